"""Flask commands: users, mail, demo data, export and import."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from flask import Flask

from .extensions import db


def register_cli(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.argument("email")
    @click.option("--name", default="", help="Display name.")
    @click.option("--admin", is_flag=True, help="Make the user an administrator.")
    def create_user_command(email: str, name: str, admin: bool) -> None:
        """Create a user (or make an existing one an admin). They sign in by email link."""
        from .services import accounts
        from .services.errors import DomainError

        try:
            user = accounts.create_user(email, name, admin=admin)
        except DomainError as error:
            raise click.ClickException(error.message) from error
        db.session.commit()
        role = "admin" if user.is_admin else "user"
        click.echo(f"{user.email} is a{'n' if role == 'admin' else ''} {role}. Sign in at "
                   f"{app.config['BASE_URL']}/auth/sign-in with this address.")

    @app.cli.command("send-mail")
    @click.option("--loop", is_flag=True, help="Keep running, sending due messages every few seconds.")
    @click.option("--interval", default=5.0, show_default=True, help="Seconds between rounds with --loop.")
    @click.option("--retry-failed", is_flag=True, help="Give messages that ran out of attempts another try.")
    @click.option("--requeue-stuck", is_flag=True,
                  help="Put back messages whose sender died mid-send (they may arrive twice).")
    def send_mail_command(loop: bool, interval: float, retry_failed: bool, requeue_stuck: bool) -> None:
        """Send the outbox: pending messages, and failed ones whose retry time has come."""
        from . import mail

        statuses = tuple(s for s, on in (("failed", retry_failed), ("sending", requeue_stuck)) if on)
        if statuses:
            click.echo(f"{mail.requeue(statuses)} message(s) put back in line.")
        while True:
            counts = mail.send_due()
            if counts["sent"] or counts["failed"] or not loop:
                click.echo(f"sent {counts['sent']}, failed {counts['failed']} (will retry), "
                           f"stuck {counts['stuck']}")
            db.session.remove()
            if not loop:
                break
            time.sleep(interval)

    @app.cli.command("demo")
    @click.option("--keep-existing", is_flag=True, help="If the demo event exists already, leave it and succeed.")
    def demo_command(keep_existing: bool) -> None:
        """Create a demo event with an organizer and invitees in every state."""
        from .demo import create_demo

        try:
            lines = create_demo()
        except ValueError as error:
            if keep_existing:
                click.echo(f"{error}; keeping it. Sign in at {app.config['BASE_URL']}/auth/sign-in "
                           "as organizer@example.org (the link appears below).")
                return
            raise click.ClickException(str(error)) from error
        click.echo("\n".join(lines))

    @app.cli.command("export-event")
    @click.argument("slug")
    @click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File (default: stdout).")
    def export_event_command(slug: str, output: str | None) -> None:
        """Write an event (people, statuses, agreements, signatures, audit) as JSON."""
        from .services.transfer import export_event

        try:
            data = export_event(slug)
        except LookupError as error:
            raise click.ClickException(str(error)) from error
        text = json.dumps(data, indent=2, ensure_ascii=False)
        if output:
            Path(output).write_text(text, encoding="utf-8")
            click.echo(f"Wrote {output}.", err=True)
        else:
            sys.stdout.write(text + "\n")

    @app.cli.command("import-event")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    def import_event_command(path: str) -> None:
        """Read an event exported by export-event back into this database."""
        from .services.transfer import import_event

        try:
            event = import_event(json.loads(Path(path).read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as error:
            db.session.rollback()
            raise click.ClickException(f"Cannot import {path}: {error}") from error
        db.session.commit()
        click.echo(f"Imported event {event.slug}.")
