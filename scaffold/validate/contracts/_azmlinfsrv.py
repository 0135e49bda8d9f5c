"""The azmlinfsrv (Azure ML inference server) contract shared by the servers that run on its
images (minimal, mlflow): port 5001, score.py with init()/run(), workers."""

from __future__ import annotations

from pathlib import Path

from scaffold.validate.contracts._common import as_int, flag_port, max_concurrency
from scaffold.validate.model import Context


# --- Azure ML minimal inference server (azmlinfsrv) ---------------------------------------------
def check(ctx: Context) -> None:
    """azmlinfsrv: port 5001 (or --port), GET / and /score, score.py with init() and run()."""
    port, how = flag_port(ctx, "--port", 5001)
    if how.startswith("the default") and as_int(ctx.container_env.get("SERVER_PORT")):
        port, how = int(ctx.container_env["SERVER_PORT"]), "SERVER_PORT"
    ctx.check_listen_port(port, f"azmlinfsrv: {how}")
    for route in ctx.routes.values():
        want = "/score" if route.name == "scoring_route" else "/"
        if route.path is not None and route.path != want:
            ctx.route_not_served(
                route,
                "the Azure ML inference server",
                f"Use {want}: azmlinfsrv answers health on GET / and scores on /score",
            )
    _minimal_script(ctx)
    _minimal_workers(ctx)


def _minimal_script(ctx: Context) -> None:
    if ctx.no_code:
        return  # an MLflow model without environment: Azure supplies server and scoring
    if (ctx.deployment or {}).get("code_configuration") is None:
        if not {"AZUREML_ENTRY_SCRIPT", "MLFLOW_MODEL_FOLDER"} & ctx.container_env.keys():
            ctx.error(
                "minimal.entry.missing",
                ctx.deployment_file,
                "code_configuration",
                "No code_configuration: azmlinfsrv has no scoring script to load",
                "Add code_configuration with code and scoring_script (score.py with "
                "init() and run())",
            )
        return
    script = ctx.scoring_script
    if script is not None and script.suffix == ".py":
        _python_entry_points(ctx, script)


def _python_entry_points(ctx: Context, script: Path) -> None:
    import ast

    rel = ctx.rel(script)
    try:
        tree = ast.parse(ctx.read(script) or "", filename=rel)
    except SyntaxError as error:
        ctx.error(
            "minimal.score.syntax",
            rel,
            "",
            f"{rel} has a syntax error at line {error.lineno}: {error.msg}",
            "Fix the syntax; the server cannot import it",
        )
        return
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    for function in ("init", "run"):
        if function not in names:
            ctx.error(
                "minimal.score.entry",
                rel,
                "",
                f"{rel} defines no top-level {function}()",
                "Define init() (load the model once) and run(raw_data) (score a request)",
            )


def _minimal_workers(ctx: Context) -> None:
    workers = as_int(ctx.container_env.get("WORKER_COUNT", "1"))
    concurrency = max_concurrency(ctx)
    if workers is not None and workers != concurrency:
        ctx.warn(
            "concurrency.workers",
            ctx.deployment_file,
            "request_settings.max_concurrent_requests_per_instance",
            f"max_concurrent_requests_per_instance is {concurrency} but azmlinfsrv runs "
            f"{workers} worker(s) (WORKER_COUNT)",
            f'Make them equal: WORKER_COUNT: "{concurrency}" in environment_variables',
        )
