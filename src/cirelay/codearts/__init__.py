"""cirelay-codearts: start and watch Huawei Cloud CodeArts Pipeline runs from a CI job.

Where (first that is set):
  CODEARTS_ENDPOINT     e.g. https://cloudpipeline-ext.cn-north-4.myhuaweicloud.com
  CODEARTS_REGION       e.g. cn-north-4 (the endpoint is built from it)
  CODEARTS_PROJECT_ID   the CodeArts project ID used in /v5/{project_id}/api paths

Credentials (first that is set):
  CODEARTS_TOKEN                              an IAM token, sent as X-Auth-Token
  HUAWEICLOUD_SDK_AK + HUAWEICLOUD_SDK_SK     access key pair; requests are signed with
                                              SDK-HMAC-SHA256 (HUAWEICLOUD_SDK_PROJECT_ID, if set,
                                              is sent as X-Project-Id; HUAWEICLOUD_SDK_SECURITY_TOKEN,
                                              for temporary keys, as X-Security-Token)
  HUAWEICLOUD_USERNAME + HUAWEICLOUD_PASSWORD + HUAWEICLOUD_DOMAIN
                                              exchanged for a token at HUAWEICLOUD_SDK_IAM_ENDPOINT
                                              (or HUAWEICLOUD_IAM_ENDPOINT; default
                                              https://iam.<region>.myhuaweicloud.com), renewed
                                              whenever it expires

Example:
  python codearts.py run start --pipeline-id 0123abcd... --branch main --var ENV=staging --wait
"""

from cirelay.codearts.client import CodeArtsClient

__all__ = ["CodeArtsClient"]
