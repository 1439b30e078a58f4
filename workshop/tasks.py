"""The task queue, and the tasks the worker runs.

The queue is Huey: a SQLite file in ``instance/`` by default (no service to run), Redis in
production (``TASK_QUEUE_URL=redis://...``), or ``immediate`` for tests, where a task runs in
the process that queues it. ``flask --app app worker`` runs the consumer: worker threads (or
processes) and the scheduler of the periodic tasks.

The database is the truth and the queue only wakes workers up: a request writes what it wants
(outbox rows, a job row) in its own transaction and queues a task once that commits
(``after_commit``). A task lost with a dead worker or a flushed Redis costs nothing but time:
the periodic sweep finds the rows again. So every task is safe to run twice, and thin: it
calls a service inside an app context of the app the worker created once for its process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, current_app, has_app_context
from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.api import Huey
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from .extensions import db

EXTENSION = "conclave_tasks"
_PENDING = "tasks_pending"
log = logging.getLogger(__name__)


def make_huey(url: str, name: str, instance_path: str) -> Huey:
    """The Huey instance for a TASK_QUEUE_URL (see the module docstring)."""
    if url == "immediate":
        return MemoryHuey(name, immediate=True, results=False)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url, results=False)
    if url == "" or url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):]) if url else Path(instance_path) / "tasks.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), results=False)
    raise RuntimeError(f"TASK_QUEUE_URL {url!r} is not usable: use redis://host:6379/0, sqlite:////path/tasks.db, "
                       "or leave it empty for a SQLite file in instance/.")


class TaskQueue:
    """One app's queue: its Huey instance and the tasks defined on it."""

    def __init__(self, app: Flask):
        self.app = app
        self.huey = make_huey(app.config["TASK_QUEUE_URL"], app.config["TASK_QUEUE_NAME"], app.instance_path)
        self.tasks: dict[str, Callable] = _define_tasks(self.huey, app)

    @property
    def immediate(self) -> bool:
        return self.huey.immediate

    def enqueue(self, name: str, *args, eta: datetime | None = None) -> None:
        """Queue task ``name`` now, or for ``eta`` (naive UTC, as the database stores it)."""
        task = self.tasks[name]
        if eta is None:
            task(*args)
        else:
            task.schedule(args=args, eta=eta.replace(tzinfo=UTC))


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = TaskQueue(app)


def queue_of(app: Flask | None = None) -> TaskQueue:
    return (app or current_app).extensions[EXTENSION]


def enqueue(name: str, *args, eta: datetime | None = None) -> None:
    """Queue a task at once. Inside a transaction, use ``after_commit`` instead."""
    queue_of().enqueue(name, *args, eta=eta)


def after_commit(name: str, *args) -> None:
    """Queue task ``name`` once the current transaction commits; nothing if it rolls back."""
    db.session.info.setdefault(_PENDING, []).append((name, args))


def enqueue_safely(name: str, *args, eta: datetime | None = None) -> None:
    """Queue, logging instead of raising when the queue cannot be reached: the rows are committed,
    and the periodic sweep finds them."""
    try:
        enqueue(name, *args, eta=eta)
    except Exception:  # a queue outage must not turn a committed request into an error page
        log.exception("could not queue %s; the periodic sweep will pick the work up", name)


@sa_event.listens_for(Session, "after_commit")
def _enqueue_committed(session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending or not has_app_context():
        return
    for name, args in pending:
        enqueue_safely(name, *args)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session, previous_transaction) -> None:
    if not previous_transaction.nested:  # a savepoint's rollback leaves the outer transaction's work
        session.info.pop(_PENDING, None)


# --- the tasks ----------------------------------------------------------------------------------


def _define_tasks(huey: Huey, app: Flask) -> dict[str, Callable]:
    """Define every task on ``huey``. Each one runs its service inside an app context of ``app``."""

    @huey.on_startup()
    def fresh_connections() -> None:
        # A forked worker process must not share its parent's database connections.
        with app.app_context():
            db.engine.dispose(close=False)

    # Unexpected errors (the database away, say) are retried by Huey; the services' own
    # outcomes (a provider error, a failed job) are recorded in the rows and retried from there.
    @huey.task(name="send_mail", retries=3, retry_delay=30)
    def send_mail(ids: list[int]) -> None:
        from . import mail

        with app.app_context():
            mail.deliver(ids)

    @huey.task(name="dispatch_mail", retries=3, retry_delay=30)
    def dispatch_mail(ids: list[int]) -> None:
        from . import mail

        with app.app_context():
            mail.dispatch(ids)

    @huey.task(name="run_job", retries=3, retry_delay=30)
    def run_job(job_id: int) -> None:
        from .services import jobs

        with app.app_context():
            jobs.run(job_id)

    @huey.task(name="prepare_material", retries=3, retry_delay=30)
    def prepare_material(material_id: int) -> None:
        """Check and prepare an upload (a hostile file costs a refusal, in a child process with limits)."""
        from .services import materials

        with app.app_context():
            materials.prepare_upload(material_id)

    @huey.periodic_task(crontab(minute="*"), name="sweep")
    def sweep() -> None:
        """Messages and jobs whose task was lost, or whose worker died, go back in line; expired
        sessions and sign-in links are deleted."""
        with app.app_context():
            run_sweep()

    @huey.periodic_task(crontab(minute="*"), name="notices")
    def notices() -> None:
        """Scheduled reminders to those who have not answered, and release notices to speakers."""
        from .services import notices

        with app.app_context():
            notices.send_due_reminders()
            notices.send_release_notices()

    return {"send_mail": send_mail, "dispatch_mail": dispatch_mail, "run_job": run_job,
            "prepare_material": prepare_material, "sweep": sweep, "notices": notices}


def run_sweep() -> dict[str, int]:
    """Requeue what was left behind and delete expired sign-ins (in an app context); the worker runs it
    at start and every minute."""
    from . import mail
    from .services import accounts, jobs, materials

    return {"messages": mail.sweep(), "jobs": jobs.sweep(), "uploads": materials.sweep_uploads(),
            "sign-ins": accounts.sweep_sessions()}
