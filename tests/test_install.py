"""Installing phaselog puts one import name into an environment, `phaselog`: an ML environment that already has
Hugging Face's `datasets` (or a user's own `model.py`) keeps working beside it. Built as a user would get it: a
wheel of this checkout in a fresh venv next to `datasets` from the package registry, then both used in one
environment, and a short phaselog run from a folder outside the checkout."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, tiny_config_dict


def run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)


def fresh_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    assert run([sys.executable, "-m", "venv", venv]).returncode == 0
    python = venv / "bin" / "python"
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    # torch, Prefect and the rest come from this test's environment through a path file, not a second multi-GB
    # install; a path file's folder is only appended to sys.path, so its own editable install of phaselog stays off
    Path(site, "shared_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("install")
    python = fresh_venv(tmp_path)
    # built from a copy: setuptools leaves build/ and egg-info folders beside the sources it builds
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "test-artifacts", "build",
                                                                "*.egg-info", "__pycache__"))
    wheel_dir = tmp_path / "wheel"
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheel_dir, source])
    assert built.returncode == 0, built.stderr[-2000:]
    wheel, = wheel_dir.glob("phaselog-*.whl")
    # --ignore-installed: the shared environment's phaselog is visible to pip, and must not be uninstalled
    done = run([python, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", wheel])
    assert done.returncode == 0, done.stderr[-2000:]
    done = run([python, "-m", "pip", "install", "-q", "datasets"])
    if done.returncode != 0 and not os.environ.get("CI"):
        pytest.skip(f"Hugging Face datasets could not be installed from the registry: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr[-2000:]
    return python


def test_the_wheel_holds_only_the_phaselog_import_name(installed, tmp_path):
    # from a folder outside the checkout: `python -c` puts the working folder first on sys.path
    listing = run([installed, "-c", "import importlib.metadata as m, json; "
                   "print(json.dumps(sorted({f.parts[0] for f in m.files('phaselog')})))"], cwd=tmp_path)
    # ".." is the console script, installed into the venv's bin/
    top = {name for name in json.loads(listing.stdout) if name != ".." and not name.endswith(".dist-info")}
    assert top == {"phaselog"}, top


def test_hugging_face_datasets_and_phaselog_work_in_one_environment(installed, tmp_path):
    script = ("import datasets, phaselog.datasets.shards, phaselog.model.gpt\n"
              "table = datasets.Dataset.from_dict({'text': ['a', 'b']})\n"
              "assert table.num_rows == 2 and 'site-packages' in datasets.__file__, datasets.__file__\n"
              "assert 'site-packages' in phaselog.model.gpt.__file__, phaselog.model.gpt.__file__\n"
              "print('ok')")
    done = run([installed, "-c", script], cwd=tmp_path)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_short_run_in_that_environment(installed, tmp_path, shared_corpus):
    config = tiny_config_dict(shared_corpus, end_step=10, segment_steps=10)
    config["self_play"] = {"enabled": False}
    config["evaluation"] = {"enabled": False}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / ".prefect"), "PHASELOG_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)
    phaselog = installed.parent / "phaselog"
    done = run([phaselog, "run", path, "--run-id", "beside-datasets"], cwd=tmp_path, env=env, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    rows = run([phaselog, "sql", "select count(*) from metrics", "--format", "json"], cwd=tmp_path, env=env)
    assert json.loads(rows.stdout) == [{"count_star()": 10}]
