"""``cloudbuild.yaml`` checked for structure: real Cloud Build fields only, steps that name an
image and reference steps that exist, every substitution used is defined (or built in), shell
variables escaped so Cloud Build leaves them alone, and the steps tie to what the project
actually has (``.ci/run``, ``tether package``'s output, infra's variables)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = {
    "PROJECT_ID",
    "PROJECT_NUMBER",
    "BUILD_ID",
    "LOCATION",
    "TRIGGER_NAME",
    "COMMIT_SHA",
    "REVISION_ID",
    "SHORT_SHA",
    "REPO_NAME",
    "REPO_FULL_NAME",
    "BRANCH_NAME",
    "TAG_NAME",
    "REF_NAME",
    "TRIGGER_BUILD_CONFIG_PATH",
    "SERVICE_ACCOUNT_EMAIL",
    "SERVICE_ACCOUNT",
}
BUILD_FIELDS = {
    "steps", "timeout", "queueTtl", "logsBucket", "options", "substitutions", "tags",
    "serviceAccount", "secrets", "availableSecrets", "artifacts", "images",
}  # fmt: skip
STEP_FIELDS = {
    "name", "args", "env", "dir", "id", "waitFor", "entrypoint", "secretEnv", "volumes",
    "timeout", "script", "automapSubstitutions", "allowFailure", "allowExitCodes",
}  # fmt: skip


def _build() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    return []


def _step(step_id: str) -> dict[str, Any]:
    return next(s for s in _build()["steps"] if s["id"] == step_id)


def _script(step_id: str) -> str:
    return "\n".join(_strings(_step(step_id).get("args", [])))


def test_fields_and_steps_are_cloud_build_syntax() -> None:
    build = _build()
    assert set(build) <= BUILD_FIELDS
    ids = [step["id"] for step in build["steps"]]
    assert len(ids) == len(set(ids))
    for index, step in enumerate(build["steps"]):
        assert set(step) <= STEP_FIELDS, step["id"]
        assert step["name"], step["id"]
        assert not step["name"].endswith(":latest"), "pin step images"
        assert isinstance(step.get("args", []), list)
        for dependency in step.get("waitFor", []):
            assert dependency == "-" or dependency in ids[:index], (step["id"], dependency)
    assert re.fullmatch(r"\d+s", build["timeout"])


def test_every_substitution_used_is_defined() -> None:
    build = _build()
    defined = set(build["substitutions"])
    assert all(name.startswith("_") for name in defined)
    text = "\n".join(_strings({k: v for k, v in build.items() if k != "substitutions"}))
    text += "\n" + "\n".join(_strings(build["substitutions"]))
    # $$ is a literal dollar for the shell; what remains is a substitution.
    unescaped = text.replace("$$", "")
    used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", unescaped))
    assert not re.search(r"\$(?![{A-Za-z_])", unescaped), "a lone $ (write $$ for the shell)"
    assert used, "nothing substituted"
    undefined = used - defined - BUILTINS
    assert not undefined, f"not substitutions (escape shell variables as $$NAME): {undefined}"
    unused = defined - used
    assert not unused, f"defined but never used: {unused}"
    if any(re.search(r"\$\{?_", v) for v in _strings(build["substitutions"])):
        assert build["options"]["dynamicSubstitutions"] is True


def test_steps_run_the_projects_own_commands() -> None:
    # The test step is CI's own script: emulators, make install, make test.
    assert ".ci/run" in _script("test") and (ROOT / ".ci" / "run").is_file()
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "terraform fmt -check -recursive infra" in lint and "checkov" in lint
    # The bundle lands where infra's bundle_path looks for it, and is kept as an artifact.
    assert "tether package --output dist/tether-functions.zip" in _script("package")
    infra_variables = (ROOT / "infra" / "variables.tf").read_text()
    assert '"../dist/tether-functions.zip"' in infra_variables
    assert _build()["artifacts"]["objects"]["paths"] == ["dist/tether-functions.zip"]
    # plan and apply run in infra/, apply only the saved plan, on the deploy branch only.
    for step_id in ("plan", "apply"):
        assert _step(step_id)["dir"] == "infra"
    plan = _script("plan")
    assert "terraform plan" in plan and "-out=tfplan" in plan
    for name in re.findall(r'-var="(\w+)=', plan):
        assert f'variable "{name}"' in infra_variables, name
    apply = _script("apply")
    assert 'if [ "${BRANCH_NAME}" != "${_DEPLOY_BRANCH}" ]' in apply
    assert apply.rstrip().endswith("terraform apply -input=false tfplan")
    order = [step["id"] for step in _build()["steps"]]
    assert order.index("test") < order.index("package") < order.index("plan")
    assert order.index("plan") < order.index("apply")
    assert "test" in _step("package")["waitFor"] and "plan" in _step("apply")["waitFor"]
