"""The app a real worker process runs in the tests: the production app, plus the tests' job kinds.

    flask --app tests.worker_app worker
"""

from tests import job_kinds  # noqa: F401  (registers the tests' job kinds)
from workshop import create_app

app = create_app()
