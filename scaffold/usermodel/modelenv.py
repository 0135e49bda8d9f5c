"""Where `scaffold new --model` runs the user's model to record its sample response.

A model is read statically first, in scaffold's own process and without running it (the
adapters: pickles, RDS streams, MLmodel files, ONNX graphs, archive manifests). Running it
needs the model's own libraries at the versions it was saved with, which scaffold's
environment has no reason to hold. So the model runs, in this order of preference:

1. `python`: the interpreter the user names (`--model-python PATH`), e.g. the virtual
   environment the model was trained in;
2. `here`: scaffold's own interpreter, in a separate process, only when it holds the model's
   libraries at the versions the model records (or the format is framework-neutral, ONNX);
3. `image`: the project's own image, which holds the model's libraries by construction
   (its requirements come from the model): scaffold builds it and starts it exactly as
   `scaffold run` does, waits for readiness and records the real server's answer to the
   sample request (the image's layers are reused by the next `scaffold run`);
4. `none`: nothing runs; the sample response is left to the user (a note says so).

`--model-inspect auto` (the default) takes the first that applies; `here`, `image` and
`none` force one. Scripts run in another interpreter come from `inspectors/`: standard
library plus the model's own framework only, and they print one JSON line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from scaffold.errors import UsageError

MODES = ("auto", "here", "image", "none")
INSPECTORS = Path(__file__).resolve().parent / "inspectors"
#: Marker before the JSON line an inspector prints (libraries may print too).
MARKER = "SCAFFOLD-INSPECT "
#: Exit code of an inspector whose interpreter lacks a library; it prints the module.
MISSING_LIBRARY = 3
SCRIPT_TIMEOUT = 600.0


@dataclass
class ModelEnv:
    """How the model may be run while the project is generated (the user's choice)."""

    mode: str = "auto"
    #: --model-python: the interpreter of the model's own environment.
    python: str | None = None
    #: Where the project will live (images and containers are labelled with it).
    dest: Path | None = None
    #: `scaffold deployment add`: the model's folder is a deployment's own (NAME/), not a
    #: project; its image is built from `build_root` (the rendered project holding
    #: NAME-deployment.yml) as that deployment.
    build_root: Path | None = None
    deployment: str | None = None
    #: Receives progress lines (image build, container start) for the user.
    progress: Callable[[str], None] | None = None
    #: Docker reachability, asked once.
    _docker: bool | None = field(default=None, repr=False)
    #: Copies of the model made in the background while the template renders.
    _copies: dict[Path, tuple[threading.Thread, Path, list[BaseException]]] = field(
        default_factory=dict, repr=False
    )

    def prefetch(self, source: Path, scratch: Path) -> None:
        """Start copying the model to `scratch` in the background (the copy runs in the
        kernel, sendfile, while copier renders the template in Python); `place` then only
        renames it into the project."""
        from scaffold.usermodel import copy_model

        target = scratch / source.name
        errors: list[BaseException] = []

        def run() -> None:
            try:
                copy_model(source, target)
            except BaseException as error:  # re-raised by place() in the main thread
                errors.append(error)

        thread = threading.Thread(target=run, name="model-copy", daemon=True)
        thread.start()
        self._copies[source] = (thread, target, errors)

    def place(self, source: Path, target: Path) -> None:
        """Put the model (file or folder) at `target`: the background copy renamed into
        place when there is one, else a copy now."""
        from scaffold.usermodel import copy_model

        found = self._copies.pop(source, None)
        if found is None:
            copy_model(source, target)
            return
        thread, copied, errors = found
        thread.join()
        if errors:
            raise errors[0]
        target.parent.mkdir(parents=True, exist_ok=True)
        if copied.is_dir() and target.is_dir():
            for entry in copied.iterdir():  # merge into a folder that exists (dirs_exist_ok)
                entry.replace(target / entry.name)
        else:
            copied.replace(target)

    def wait(self) -> None:
        """Let background copies finish (before their folder is removed)."""
        for thread, _, _ in self._copies.values():
            thread.join()

    def say(self, message: str) -> None:
        """Report progress, if anyone listens."""
        if self.progress is not None:
            self.progress(message)

    def docker_reachable(self) -> bool:
        """Whether a Docker Engine answers (asked once)."""
        if self._docker is None:
            from scaffold import container
            from scaffold.errors import DockerError

            try:
                container.connect()
                self._docker = True
            except DockerError:
                self._docker = False
        return self._docker

    def choose(self, *, here: bool, image: bool) -> str:
        """The environment to run the model in: "python", "here", "image" or "none".

        Args:
            here: scaffold's own interpreter holds the model's libraries at the versions
                the model records.
            image: the project's image can run the model and answer its sample request.
        """
        if self.python:
            return "python"
        if self.mode == "here" or (self.mode == "auto" and here):
            return "here"
        if self.mode == "image" or (self.mode == "auto" and image and self.docker_reachable()):
            return "image"
        return "none"


def check_python(python: str) -> str:
    """`python` as an absolute interpreter path; UsageError when it does not run Python."""
    path = Path(python).expanduser()
    if not path.is_absolute():
        import shutil

        found = shutil.which(python)
        path = Path(found) if found else path.resolve()
    try:
        proc = subprocess.run(
            [str(path), "-c", "import sys; print(sys.version_info[0])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UsageError(f"--model-python {python}: cannot run it ({error})") from None
    if proc.returncode != 0 or proc.stdout.strip() != "3":
        raise UsageError(f"--model-python {python}: not a Python 3 interpreter")
    return str(path)


def installed(distribution: str) -> str | None:
    """The version of `distribution` in scaffold's own environment (nothing imported)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


class InspectError(Exception):
    """An inspector could not run the model; the message is one line for the user."""


def run_inspector(
    python: str, script: str, args: list[str], *, timeout: float = SCRIPT_TIMEOUT
) -> Any:
    """Run `inspectors/<script>` with `python` and return the JSON it printed.

    Raises InspectError with the reason (a missing library names the module).
    """
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)  # the model's interpreter, not scaffold's packages
    try:
        proc = subprocess.run(
            [python, str(INSPECTORS / script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InspectError(f"{python}: {error}") from None
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    if proc.returncode == MISSING_LIBRARY:
        module = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "a library"
        raise InspectError(f"{python} has no {module} installed")
    if proc.returncode != 0 or not lines:
        tail = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise InspectError(
            f"{Path(script).stem} failed in {python}: "
            + (tail[-1] if tail else f"exit {proc.returncode}")
        )
    return json.loads(lines[-1][len(MARKER) :])


def interpreter(env: ModelEnv, choice: str) -> str:
    """The interpreter for "python" or "here"."""
    return env.python if choice == "python" and env.python else sys.executable


@dataclass(frozen=True)
class Recorded:
    """The real server's answer to the sample request, or why there is none."""

    response: Any = None
    why: str = ""


def _with_log(message: str, log: str) -> str:
    """`message` with the container log lines that say what failed (an exception's last
    line, else the log's last lines)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"(Error|Exception|error:|Errno)", line)]
    shown = errors[-1:] if errors else lines[-3:]
    return f"{message} ({' | '.join(shown)})" if shown else message


class _Progress:
    """A localrun Reporter that passes phase lines to ModelEnv.say."""

    def __init__(self, env: ModelEnv) -> None:
        self.env = env

    def step(self, message: str) -> None:
        self.env.say(message)

    def detail(self, line: str, *, important: bool = False) -> None:
        """Build and container log lines are not shown while the project is generated."""
        del line, important


def record_in_image(project: Path, env: ModelEnv, request: Any) -> Recorded:
    """Build the project's image, start it the way `scaffold run` does, wait for readiness,
    POST `request` to the scoring route and return the answer (a 200 JSON body). For a
    deployment `scaffold deployment add` makes, the image is that deployment's (`env`)."""
    import httpx

    from scaffold.errors import ScaffoldError
    from scaffold.localrun import LocalDeployment

    try:
        deployment = LocalDeployment(
            env.build_root or project,
            _Progress(env),
            label=env.dest,
            deployment=env.deployment,
        )
        deployment.build()
    except ScaffoldError as error:
        return Recorded(why=f"the project's image did not build ({error.message})")
    try:
        deployment.start()
        deployment.wait_ready()
        plan = deployment.plan
        timeout = max(10.0, plan.requests.request_timeout_ms / 1000 + 5)
        env.say(f"Recording the sample response: POST {plan.scoring.path}")
        answer = httpx.post(deployment.url(plan.scoring), json=request, timeout=timeout)
    except ScaffoldError as error:
        return Recorded(why=_with_log(error.message, error.details))
    except httpx.HTTPError as error:
        return Recorded(why=f"the scoring request failed ({type(error).__name__}: {error})")
    finally:
        deployment.stop()
    if answer.status_code != 200:
        return Recorded(why=f"the server answered HTTP {answer.status_code}: {answer.text[:300]}")
    try:
        return Recorded(response=answer.json())
    except ValueError:
        return Recorded(why=f"the server's answer is not JSON: {answer.text[:300]}")


#: Where the model file's folder and the inspector scripts are mounted in the image.
IMAGE_MODEL_DIR = "/tmp/scaffold-model"
IMAGE_INSPECTORS = "/tmp/scaffold-inspectors"
IMAGE_SOURCE = "/tmp/scaffold-src"
#: The interpreter of the serving image (the minimal images put their environment first on
#: PATH).
IMAGE_PYTHON = "python"


def inspect_in_image(
    project: Path,
    env: ModelEnv,
    script: str,
    model_file: Path,
    args: Callable[[str], list[str]],
    *,
    timeout: float = SCRIPT_TIMEOUT,
) -> Recorded:
    """Build the project's image and run `inspectors/<script>` in it, with the image's own
    Python and libraries (the model's, by construction), the model's folder mounted
    read-only and no network; `args(path of the model in the container)` are its arguments.
    Returns the JSON the script printed, or why there is none."""
    from docker.errors import DockerException

    from scaffold.errors import ScaffoldError
    from scaffold.localrun import PROJECT_LABEL, LocalDeployment

    try:
        deployment = LocalDeployment(project, _Progress(env), label=env.dest)
        deployment.build()
    except ScaffoldError as error:
        return Recorded(why=f"the project's image did not build ({error.message})")
    env.say(f"Inspecting {model_file.name} in the project's image")
    inside = f"{IMAGE_MODEL_DIR}/{model_file.name}"
    container = None
    try:
        container = deployment.client.containers.run(
            deployment.tag,
            [f"{IMAGE_INSPECTORS}/{script}", *args(inside)],
            entrypoint=[IMAGE_PYTHON],
            # root: the model's own folder may be readable by its owner only (pytest's
            # temporary folders, home folders of mode 0750) and the image's user is another
            # uid; the container has no network and its mounts are read-only.
            user="root",
            detach=True,
            init=True,
            network_disabled=True,
            # the project's scoring code folder is importable, as where the server runs
            environment={"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": IMAGE_SOURCE},
            volumes={
                str(model_file.parent): {"bind": IMAGE_MODEL_DIR, "mode": "ro"},
                str(INSPECTORS): {"bind": IMAGE_INSPECTORS, "mode": "ro"},
                str(project / "src"): {"bind": IMAGE_SOURCE, "mode": "ro"},
            },
            labels={PROJECT_LABEL: deployment.label},
            platform=deployment.platform,
        )
        status = container.wait(timeout=timeout)
        out = container.logs(stdout=True, stderr=False).decode("utf-8", errors="replace")
        err = container.logs(stdout=False, stderr=True).decode("utf-8", errors="replace")
    except (DockerException, OSError) as error:  # includes the wait's read timeout
        return Recorded(why=f"the inspection container failed ({type(error).__name__}: {error})")
    finally:
        if container is not None:
            with contextlib.suppress(DockerException):
                container.remove(force=True)
    lines = [line for line in out.splitlines() if line.startswith(MARKER)]
    if status.get("StatusCode") != 0 or not lines:
        tail = [line for line in err.strip().splitlines() if line.strip()]
        return Recorded(why=tail[-1] if tail else f"exit {status.get('StatusCode')}")
    return Recorded(response=json.loads(lines[-1][len(MARKER) :]))
