"""cirelay-port: talk to Port (port.io) from a CI job.

Upserts, reads, searches and deletes catalog entities (one at a time or in bulk), reports the
current CI job (CircleCI, GitHub Actions, GitLab, Jenkins, Azure Pipelines, Bitbucket, Buildkite,
Codefresh) as an entity, and creates, finds, reads, updates and logs to self-service action runs.
Every command prints its result as JSON on stdout.

Environment:
  PORT_CLIENT_ID, PORT_CLIENT_SECRET  credentials (required)
  PORT_BASE_URL     API base URL, with or without a trailing /v1 (default https://api.port.io;
                    https://api.getport.io still works when given)
  PORT_REGION       eu | us: api.port.io or api.us.port.io when PORT_BASE_URL is not set (default eu)
  PORT_RUN_ID       the action run that entity changes belong to, and the default RUN_ID
  PORT_TOKEN_CACHE  0 turns off the per-job token cache (a 0600 file under $RUNNER_TEMP or the temp dir)
  CIRELAY_TIMEOUT   request timeout in seconds, or 'connect,read'
  CIRELAY_MAX_WAIT  longest wait for a rate-limit window to reset, in seconds (default 120)

Example:
  python scripts/port.py entity upsert -b microservice -i payments --properties '{"version": "1.4.2"}'
"""

from cirelay.port.client import PortClient

__all__ = ["PortClient"]
