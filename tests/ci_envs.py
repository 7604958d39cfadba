"""What each CI provider sets in a job's environment, for the `ci report` tests.

Each entry is the environment one job would see (only the variables `ci report` reads, plus the
ones that tell providers apart) and the entity properties that environment should give. Variable
names and value shapes come from each provider's own list of predefined variables:

- GitLab: docs.gitlab.com/ci/variables/predefined_variables/ (GITLAB_CI, CI_PIPELINE_ID, CI_JOB_NAME,
  CI_JOB_URL, CI_COMMIT_SHA, CI_COMMIT_BRANCH unset in tag and merge-request pipelines, CI_COMMIT_TAG,
  CI_MERGE_REQUEST_SOURCE_BRANCH_NAME, GITLAB_USER_LOGIN, CI_JOB_STARTED_AT);
- Jenkins: www.jenkins.io/doc/book/pipeline/jenkins-file/#using-environment-variables and the Git
  plugin's variables (JENKINS_URL, BUILD_URL, BUILD_NUMBER, JOB_NAME, GIT_COMMIT, GIT_BRANCH as
  origin/<branch>; multibranch BRANCH_NAME, TAG_NAME, CHANGE_BRANCH; BUILD_USER_ID from the build-user-vars plugin);
- Azure Pipelines: learn.microsoft.com/azure/devops/pipelines/build/variables (TF_BUILD=True,
  BUILD_BUILDID, BUILD_DEFINITIONNAME, SYSTEM_JOBDISPLAYNAME, SYSTEM_COLLECTIONURI, SYSTEM_TEAMPROJECT,
  BUILD_SOURCEVERSION, BUILD_SOURCEBRANCH as refs/heads/… or refs/tags/…, SYSTEM_PULLREQUEST_SOURCEBRANCH,
  BUILD_REQUESTEDFOR; the run's page is <collection><project>/_build/results?buildId=<id>);
- Bitbucket Pipelines: support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/ (BITBUCKET_BUILD_NUMBER,
  BITBUCKET_PIPELINE_UUID, BITBUCKET_STEP_UUID with braces, BITBUCKET_WORKSPACE, BITBUCKET_REPO_SLUG,
  BITBUCKET_COMMIT, BITBUCKET_BRANCH, BITBUCKET_TAG, BITBUCKET_STEP_TRIGGERER_UUID; the run's page is
  bitbucket.org/<workspace>/<repo>/pipelines/results/<build number>);
- Buildkite: buildkite.com/docs/pipelines/configure/environment-variables (BUILDKITE=true, BUILDKITE_BUILD_ID,
  BUILDKITE_BUILD_URL, BUILDKITE_JOB_ID, BUILDKITE_LABEL, BUILDKITE_STEP_KEY, BUILDKITE_PIPELINE_SLUG,
  BUILDKITE_COMMIT, BUILDKITE_BRANCH, BUILDKITE_TAG, BUILDKITE_BUILD_CREATOR);
- Codefresh: codefresh.io/docs/docs/pipelines/variables/ (CF_BUILD_ID, CF_BUILD_URL, CF_PIPELINE_NAME,
  CF_REVISION, CF_BRANCH, CF_RELEASE_TAG, CF_BUILD_INITIATOR, CF_REPO_NAME).
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

# provider -> (environment, expected identifier, expected properties other than status/startedAt/finishedAt)
CI_ENVS: Dict[str, Tuple[Dict[str, str], str, Dict[str, Any]]] = {
    "gitlab": (
        {
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_SERVER_URL": "https://gitlab.example.com",
            "CI_PROJECT_PATH": "acme/shop",
            "CI_PROJECT_NAME": "shop",
            "CI_PIPELINE_ID": "1045",
            "CI_PIPELINE_URL": "https://gitlab.example.com/acme/shop/-/pipelines/1045",
            "CI_JOB_ID": "88123",
            "CI_JOB_NAME": "deploy prod",
            "CI_JOB_URL": "https://gitlab.example.com/acme/shop/-/jobs/88123",
            "CI_COMMIT_SHA": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "CI_COMMIT_REF_NAME": "main",
            "CI_COMMIT_BRANCH": "main",
            "GITLAB_USER_LOGIN": "ada",
            "CI_JOB_STARTED_AT": "2026-01-28T10:00:00Z",
        },
        "gitlab-1045-deploy-prod",
        {
            "provider": "gitlab",
            "pipeline": "acme/shop",
            "job": "deploy prod",
            "url": "https://gitlab.example.com/acme/shop/-/jobs/88123",
            "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "branch": "main",
            "triggeredBy": "ada",
        },
    ),
    "gitlab-tag": (
        {
            "GITLAB_CI": "true",
            "CI_PROJECT_PATH": "acme/shop",
            "CI_PIPELINE_ID": "1046",
            "CI_JOB_NAME": "release",
            "CI_JOB_URL": "https://gitlab.example.com/acme/shop/-/jobs/88200",
            "CI_COMMIT_SHA": "abc",
            "CI_COMMIT_REF_NAME": "v1.4.2",
            "CI_COMMIT_TAG": "v1.4.2",
            "GITLAB_USER_LOGIN": "ada",
        },
        "gitlab-1046-release",
        {
            "provider": "gitlab",
            "pipeline": "acme/shop",
            "job": "release",
            "url": "https://gitlab.example.com/acme/shop/-/jobs/88200",
            "commit": "abc",
            "tag": "v1.4.2",
            "triggeredBy": "ada",
        },
    ),
    "jenkins": (
        {
            "JENKINS_URL": "https://jenkins.example.com/",
            "BUILD_URL": "https://jenkins.example.com/job/shop/job/main/57/",
            "BUILD_NUMBER": "57",
            "BUILD_ID": "57",
            "JOB_NAME": "shop/main",
            "JOB_BASE_NAME": "main",
            "GIT_COMMIT": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "GIT_BRANCH": "origin/main",
            "BUILD_USER_ID": "ada",
        },
        "jenkins-shop-main-57",
        {
            "provider": "jenkins",
            "pipeline": "shop/main",
            "job": "main",
            "url": "https://jenkins.example.com/job/shop/job/main/57/",
            "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "branch": "main",
            "triggeredBy": "ada",
        },
    ),
    "jenkins-multibranch-tag": (
        {
            "JENKINS_URL": "https://jenkins.example.com/",
            "BUILD_URL": "https://jenkins.example.com/job/shop/job/v1.4.2/3/",
            "BUILD_NUMBER": "3",
            "JOB_NAME": "shop/v1.4.2",
            "JOB_BASE_NAME": "v1.4.2",
            "GIT_COMMIT": "abc",
            "BRANCH_NAME": "v1.4.2",
            "TAG_NAME": "v1.4.2",
        },
        "jenkins-shop-v1.4.2-3",
        {
            "provider": "jenkins",
            "pipeline": "shop/v1.4.2",
            "job": "v1.4.2",
            "url": "https://jenkins.example.com/job/shop/job/v1.4.2/3/",
            "commit": "abc",
            "tag": "v1.4.2",
        },
    ),
    "azure": (
        {
            "TF_BUILD": "True",
            "BUILD_BUILDID": "812",
            "BUILD_BUILDNUMBER": "20260128.3",
            "BUILD_DEFINITIONNAME": "shop-ci",
            "SYSTEM_JOBDISPLAYNAME": "Deploy",
            "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/",
            "SYSTEM_TEAMPROJECT": "Shop",
            "BUILD_SOURCEVERSION": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "BUILD_SOURCEBRANCH": "refs/heads/main",
            "BUILD_SOURCEBRANCHNAME": "main",
            "BUILD_REQUESTEDFOR": "Ada Lovelace",
        },
        "azure-812-Deploy",
        {
            "provider": "azure",
            "pipeline": "shop-ci",
            "job": "Deploy",
            "url": "https://dev.azure.com/acme/Shop/_build/results?buildId=812",
            "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "branch": "main",
            "triggeredBy": "Ada Lovelace",
        },
    ),
    "azure-pr": (
        {
            "TF_BUILD": "True",
            "BUILD_BUILDID": "813",
            "BUILD_DEFINITIONNAME": "shop-ci",
            "SYSTEM_JOBDISPLAYNAME": "Test",
            "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/",
            "SYSTEM_TEAMPROJECT": "Shop",
            "BUILD_SOURCEVERSION": "def",
            "BUILD_SOURCEBRANCH": "refs/pull/7/merge",
            "SYSTEM_PULLREQUEST_SOURCEBRANCH": "refs/heads/feature/login",
            "BUILD_REQUESTEDFOR": "Ada Lovelace",
        },
        "azure-813-Test",
        {
            "provider": "azure",
            "pipeline": "shop-ci",
            "job": "Test",
            "url": "https://dev.azure.com/acme/Shop/_build/results?buildId=813",
            "commit": "def",
            "branch": "feature/login",
            "triggeredBy": "Ada Lovelace",
        },
    ),
    "bitbucket": (
        {
            "CI": "true",
            "BITBUCKET_BUILD_NUMBER": "211",
            "BITBUCKET_PIPELINE_UUID": "{4f5c0a37-1111-4c2e-9d7b-2d1c6c8d3f10}",
            "BITBUCKET_STEP_UUID": "{0b7e3d9a-2222-4c55-8f0e-91a3a7c1e2b4}",
            "BITBUCKET_WORKSPACE": "acme",
            "BITBUCKET_REPO_SLUG": "shop",
            "BITBUCKET_REPO_FULL_NAME": "acme/shop",
            "BITBUCKET_COMMIT": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "BITBUCKET_BRANCH": "main",
            "BITBUCKET_STEP_TRIGGERER_UUID": "{7d1e0c52-3333-4a8b-b4f6-5e2a9c0d8e71}",
        },
        "bitbucket-shop-211-0b7e3d9a-2222-4c55-8f0e-91a3a7c1e2b4",
        {
            "provider": "bitbucket",
            "pipeline": "acme/shop",
            "job": "{0b7e3d9a-2222-4c55-8f0e-91a3a7c1e2b4}",
            "url": "https://bitbucket.org/acme/shop/pipelines/results/211",
            "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "branch": "main",
            "triggeredBy": "{7d1e0c52-3333-4a8b-b4f6-5e2a9c0d8e71}",
        },
    ),
    "buildkite": (
        {
            "CI": "true",
            "BUILDKITE": "true",
            "BUILDKITE_BUILD_ID": "0190a1b2-c3d4-4e5f-8a9b-0c1d2e3f4a5b",
            "BUILDKITE_BUILD_NUMBER": "1514",
            "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/shop/builds/1514",
            "BUILDKITE_JOB_ID": "0190a1b2-ffff-4e5f-8a9b-0c1d2e3f4a5b",
            "BUILDKITE_LABEL": ":rocket: Deploy",
            "BUILDKITE_STEP_KEY": "deploy",
            "BUILDKITE_PIPELINE_SLUG": "shop",
            "BUILDKITE_COMMIT": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "BUILDKITE_BRANCH": "main",
            "BUILDKITE_TAG": "",
            "BUILDKITE_BUILD_CREATOR": "Ada Lovelace",
        },
        "buildkite-0190a1b2-c3d4-4e5f-8a9b-0c1d2e3f4a5b-deploy",
        {
            "provider": "buildkite",
            "pipeline": "shop",
            "job": ":rocket: Deploy",
            "url": "https://buildkite.com/acme/shop/builds/1514#0190a1b2-ffff-4e5f-8a9b-0c1d2e3f4a5b",
            "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "branch": "main",
            "triggeredBy": "Ada Lovelace",
        },
    ),
    "codefresh": (
        {
            "CF_BUILD_ID": "65b6f1c2e4b0a1d2c3e4f5a6",
            "CF_BUILD_URL": "https://g.codefresh.io/build/65b6f1c2e4b0a1d2c3e4f5a6",
            "CF_PIPELINE_NAME": "shop/deploy",
            "CF_REPO_NAME": "shop",
            "CF_REVISION": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "CF_BRANCH": "main",
            "CF_BUILD_INITIATOR": "ada",
        },
        "codefresh-65b6f1c2e4b0a1d2c3e4f5a6",
        {
            "provider": "codefresh",
            "pipeline": "shop/deploy",
            "url": "https://g.codefresh.io/build/65b6f1c2e4b0a1d2c3e4f5a6",
            "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
            "branch": "main",
            "triggeredBy": "ada",
        },
    ),
}
