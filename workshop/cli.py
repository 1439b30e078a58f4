"""Flask commands: users, mail, demo data, export and import, tracing a leaked file."""

from __future__ import annotations

import json
import logging
import sys
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

    @app.cli.command("worker")
    @click.option("--workers", "-w", default=2, show_default=True, help="Tasks run at once by this worker.")
    @click.option("--worker-type", "-k", type=click.Choice(["thread", "process"]), default="thread",
                  show_default=True, help="Threads, or processes for CPU-heavy work such as the auto-scheduler.")
    @click.option("--no-periodic", is_flag=True,
                  help="Run no periodic tasks here (they are safe to run on every worker, but once is enough).")
    @click.option("--verbose", "-v", is_flag=True, help="Log every task.")
    def worker_command(workers: int, worker_type: str, no_periodic: bool, verbose: bool) -> None:
        """Run tasks from the queue: mail, jobs, and (unless --no-periodic) the periodic tasks.

        Run as many as you like, on as many machines as share the database and the queue.
        Ctrl-C stops it after the tasks under way; a worker killed outright loses nothing:
        what it held is taken over once its lease runs out.
        """
        from . import tasks

        queue = tasks.queue_of(app)
        if queue.immediate:
            raise click.ClickException("TASK_QUEUE_URL=immediate runs every task where it is queued; "
                                       "there is nothing for a worker to do.")
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] worker %(levelname)s: %(message)s"))
        for name in ("huey", "workshop"):
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            logger.setLevel(logging.INFO if verbose else logging.WARNING)
        with app.app_context():
            # A restarted worker takes back at once what a dead one left behind.
            swept = tasks.run_sweep()
            db.session.remove()
        click.echo(f"Conclave worker: {workers} {worker_type} worker(s), queue {queue.huey.name!r} "
                   f"({type(queue.huey.storage).__name__}), periodic tasks {'off' if no_periodic else 'on'}; "
                   f"{swept['messages']} message(s) and {swept['jobs']} job(s) taken back.", err=True)
        # An idle worker looks at a SQLite queue at least every second (Redis wakes it at once): a sign-in
        # link should not wait for the consumer's default ten-second back-off.
        queue.huey.create_consumer(workers=workers, worker_type=worker_type, periodic=not no_periodic,
                                   max_delay=1.0).run()

    @app.cli.command("send-mail")
    @click.option("--retry-failed", is_flag=True, help="Give messages that ran out of attempts another try.")
    def send_mail_command(retry_failed: bool) -> None:
        """Send due messages from this process, for a setup where no worker runs.

        With a worker this is not needed: it sends every message and retries failures itself.
        """
        from . import mail

        if retry_failed:
            count = mail.retry_failed()
            db.session.commit()
            click.echo(f"{count} failed message(s) put back in line.")
        counts = mail.send_due()
        click.echo(f"sent {counts['sent']}, failed {counts['failed']} (retried later unless out of attempts), "
                   f"postponed {counts['postponed']}")

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

    @app.cli.command("trace-leak")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--event", "slug", default=None, help="Name only downloads of this event's materials.")
    def trace_leak_command(path: str, slug: str | None) -> None:
        """Find whose copy a leaked PDF, PNG or JPEG was: one line per download id found,
        "<download id> <name> <email> <material> <time>". When the file names nobody (of the event
        given), its mark is read again against that event's files (every event's without --event).
        An id that is not a download (of the event given) is printed as "not from this event" or
        "not in the access log". Exits 1 when the file names nobody. The trace is recorded in the
        audit log."""
        import sqlalchemy as sa

        from .models import Event
        from .services import audit, materials
        from .watermark import StampError, limits_from_config

        event = None
        if slug:
            event = db.session.scalar(sa.select(Event).where(Event.slug == slug))
            if event is None:
                raise click.ClickException(f"No event has the slug {slug!r}.")
        data = Path(path).read_bytes()
        if materials.leak_type(data) is None:
            raise click.ClickException("Conclave reads download ids from PDF, PNG and JPEG files.")
        try:
            found = materials.traced_ids(event, materials.read_leak(event, data, limits_from_config(app.config)))
        except StampError as error:
            raise click.ClickException(error.message) from error
        named = [item.access for item in found if item.access is not None]
        name = Path(path).name
        for item in found:
            access = item.access
            if access is None:
                click.echo(f"{item.download_id} {'not from this event' if event else 'not in the access log'}")
                continue
            person = access.user
            click.echo(" ".join([access.download_id, person.display_name if person else "(public copy)",
                                 person.email if person else "-", access.material.filename,
                                 f"{access.created_at:%Y-%m-%dT%H:%M:%S}Z"]))
            audit.record(None, access.material.proposal.event, "leak traced",
                         f"material {access.material.public_id}",
                         f"from the command line: {name} names download {access.download_id}")
        if not named:
            audit.record(None, event, "leak traced", "", f"from the command line: {name} names nobody"
                         + (f" ({len(found)} id(s) not from this event)" if found else ""))
        db.session.commit()
        if not found:
            click.echo("No download id found in this file.", err=True)
        if not named:
            sys.exit(1)

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

    @app.cli.command("clone-event")
    @click.argument("slug")
    @click.argument("new_slug")
    @click.option("--start", "start", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
                  help="The new event's first day, YYYY-MM-DD.")
    @click.option("--title", default="", help="The new event's title (the old one's by default).")
    @click.option("--with-invites", is_flag=True, help="Copy the invite list, everyone as proposed.")
    def clone_event_command(slug: str, new_slug: str, start, title: str, with_invites: bool) -> None:
        """Start a new draft event from SLUG: settings, rooms, slot grid, agreement (never talks or answers)."""
        import sqlalchemy as sa

        from .models import Event
        from .services.cloning import clone_event
        from .services.errors import DomainError

        source = db.session.scalar(sa.select(Event).where(Event.slug == slug))
        if source is None:
            raise click.ClickException(f"No event has the address {slug}.")
        try:
            made = clone_event(None, source, new_slug, start.date(), title, with_invites)
        except DomainError as error:
            db.session.rollback()
            raise click.ClickException(error.message) from error
        db.session.commit()
        click.echo(f"Created {made.event.slug} ({made.event.starts_on} to {made.event.ends_on}): {made.rooms} rooms, "
                   f"{made.slots} slots, {made.people} people proposed.")
