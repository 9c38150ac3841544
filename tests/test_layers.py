"""The house has one direction: every import of phaselog code, at the top of a file or inside a function, points
to its own layer or one below it (docs/design.md draws the layers). Read from the source with `ast`, so an
import that would only run on some path counts as much as one at the top."""
import ast
from pathlib import Path

from tests.conftest import REPO

# top to bottom; names in one row are siblings that must not import each other
LAYERS = [
    ["phaselog"],  # the command line, the Prefect UI launcher, the benchmarks
    # bias_tooling: the bias tables, the annotated book corpus and the scorers' training, run by hand; a run never
    # imports it (test below)
    ["phaselog.flows", "phaselog.bias_tooling"],
    ["phaselog.tasks"],
    ["phaselog.understanding", "phaselog.server", "phaselog.reports"],
    ["phaselog.model"],
    ["phaselog.datasets"],
    ["phaselog.core"],
]
# the folder each subpackage is installed from (pyproject.toml's package-dir)
FOLDERS = {"phaselog": "phaselog", "phaselog.core": "phaselog/core", "phaselog.model": "model",
           "phaselog.datasets": "datasets", "phaselog.understanding": "understanding", "phaselog.reports": "reports",
           "phaselog.server": "server", "phaselog.flows": "flows", "phaselog.tasks": "tasks",
           "phaselog.bias_tooling": "bias_tooling"}
# folders inside a layer's package that belong to its layer: the benchmarks are the command line's
INNER_FOLDERS = {"phaselog.bench": "phaselog/bench"}
NO_PREFECT = ["phaselog.core", "phaselog.datasets", "phaselog.model", "phaselog.understanding", "phaselog.reports",
              "phaselog.bias_tooling"]


def package_of(module: str) -> str:
    """The layer package a module belongs to: the longest FOLDERS key that prefixes it."""
    return max((p for p in FOLDERS if module == p or module.startswith(p + ".")), key=len)


def position(package: str) -> tuple[int, int]:
    return next((row, col) for row, names in enumerate(LAYERS) for col, name in enumerate(names) if name == package)


def project_modules() -> dict[str, Path]:
    modules = {}
    for package, folder in {**FOLDERS, **INNER_FOLDERS}.items():
        for path in sorted((REPO / folder).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = path
    return modules


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module.rsplit(".", node.level)[0] if path.stem != "__init__" or node.level > 1 else module
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module
            # `from phaselog import bench` imports the module phaselog.bench
            found += [(node.lineno, f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
                      for alias in node.names]
    return found


MODULES = project_modules()


def test_the_layout_matches_the_installed_packages():
    pyproject = (REPO / "pyproject.toml").read_text()
    for package, folder in FOLDERS.items():
        if package not in ("phaselog", "phaselog.core"):
            assert f'"{package}" = "{folder}"' in pyproject
    assert len(MODULES) > 60


def test_imports_run_downward_only():
    upward = []
    for module, path in MODULES.items():
        own = position(package_of(module))
        for line, target in imports_of(path, module):
            if target.split(".")[0] in ("model", "datasets", "understanding", "reports", "server", "flows", "tasks",
                                        "bias_tooling"):
                upward.append(f"{path.relative_to(REPO)}:{line} imports {target}: use phaselog.{target}")
                continue
            if not target.startswith("phaselog"):
                continue
            theirs = position(package_of(target))
            if theirs[0] < own[0] or (theirs[0] == own[0] and theirs[1] != own[1]):
                upward.append(f"{path.relative_to(REPO)}:{line} ({package_of(module)}) imports {target} "
                              f"({package_of(target)})")
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_no_run_imports_the_bias_tooling():
    """bias_tooling/ builds tables and trains the scorer from them; what a training run (or the command line that
    starts one) loads stays in understanding/ and below, so nothing outside the tooling imports it."""
    found = [f"{path.relative_to(REPO)}:{line} imports {target}" for module, path in MODULES.items()
             if package_of(module) != "phaselog.bias_tooling" for line, target in imports_of(path, module)
             if target.startswith("phaselog.bias_tooling")]
    assert not found, "the tooling is for building tables, not for runs:\n" + "\n".join(found)


def test_plain_modules_import_no_prefect():
    found = [f"{path.relative_to(REPO)}:{line} imports {target}" for module, path in MODULES.items()
             if package_of(module) in NO_PREFECT for line, target in imports_of(path, module)
             if target.split(".")[0] == "prefect"]
    assert not found, "Prefect belongs in flows/ and tasks/:\n" + "\n".join(found)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The checker itself, on a planted upward import inside a function (the kind that hid cycles before)."""
    planted = tmp_path / "train.py"
    planted.write_text("def f():\n    from phaselog.understanding.health import assess_health\n")
    (line, target), = imports_of(planted, "phaselog.model.train")
    assert (line, target) == (2, "phaselog.understanding.health")
    assert position(package_of(target))[0] < position(package_of("phaselog.model.train"))[0]
