"""cirelay-octoplant: order an export from an octoplant server, wait for it, keep the ZIP.

Talks to the octoplant Export API: signs in with the OAuth2 password grant
(POST /v1/oauth2/token), orders an export (POST /v1/order), polls the order
(GET /v1/order/{name}) and streams the finished ZIP (GET /v1/order/{name}/download) into a
temporary file beside the target, checks every member's CRC, then moves it into place.

Environment:
  OCTOPLANT_URL            server address and API port, e.g. https://octoplant.example.com:64023
  OCTOPLANT_USERNAME       octoplant user
  OCTOPLANT_PASSWORD       its password (read from the environment only)
  OCTOPLANT_CLIENT_ID      OAuth2 client id (default: public-api)
  OCTOPLANT_CLIENT_SECRET  OAuth2 client secret (default: the secret the vendor documents for public-api)
  OCTOPLANT_CA_BUNDLE      CA file for a server whose certificate comes from its own CA
                           (REQUESTS_CA_BUNDLE works too)

Usage:
  python octoplant.py export --contents projectTree --contents jobList -o export.zip
"""

from cirelay.octoplant.client import OctoplantClient

__all__ = ["OctoplantClient"]
