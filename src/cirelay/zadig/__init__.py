"""cirelay-zadig: start Zadig workflow tasks from a CI job and, with --wait, pass or fail with them.

Two generations of Zadig's API:

- `custom …` the OpenAPI of custom workflows (/openapi/workflows/custom/…), Zadig v1.15 and later;
  `run` sends every job as the workflow configures it (Zadig skips the jobs it is not given);
- `task …`   the legacy workflow-task API (/api/directory/workflowTask…), Zadig up to v3.4.0.

Environment:
  ZADIG_URL              Zadig's base URL, e.g. https://zadig.example.com (required)
  ZADIG_TOKEN            an API token, sent as "Authorization: Bearer <token>" (required)
  ZADIG_PROJECT          default for -p/--project
  ZADIG_WORKFLOW         default for -w/--workflow
  ZADIG_ENV              default for -e/--env
  ZADIG_TASK_ID          default for --id
  CIRELAY_WAIT_TIMEOUT   seconds --wait waits before giving up (default 3600)

Example:
  python zadig.py custom run -p demo -w build-and-deploy --param TAG=1.4.2 --wait
"""

from cirelay.zadig.client import ZadigClient

__all__ = ["ZadigClient"]
