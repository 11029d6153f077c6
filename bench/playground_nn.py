"""The Playground's own nn.ts, run in Node from a fetched copy: the reference for lean steps.

Nothing is downloaded at bench time. ``PLAYGROUND_SRC`` names the Playground's source: its
``src/nn.ts``, a checkout holding it, or a bare git directory (read with ``git show
HEAD:src/nn.ts``). ``TYPESCRIPT`` names the ``typescript`` package directory whose
``transpileModule`` turns nn.ts into JavaScript (Node 20 cannot run TypeScript); without it the
project's own ``node_modules/typescript`` is tried. When Node, the source or the compiler is
missing, :func:`playground_step_us` says why instead of timing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("playground_step.cjs")

_TRANSPILE = (
    "const ts = require(process.argv[1]);"
    "const src = require('fs').readFileSync(0, 'utf8');"
    "process.stdout.write(ts.transpileModule(src, {compilerOptions: "
    "{module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2017}}).outputText);"
)


def _nn_source() -> str | None:
    given = os.environ.get("PLAYGROUND_SRC")
    if not given:
        return None
    path = Path(given)
    if path.is_file():
        return path.read_text()
    if (path / "src" / "nn.ts").is_file():
        return (path / "src" / "nn.ts").read_text()
    shown = subprocess.run(["git", "--git-dir", str(path), "show", "HEAD:src/nn.ts"],
                           capture_output=True, text=True, check=False)
    return shown.stdout if shown.returncode == 0 else None


def _typescript() -> Path | None:
    for candidate in (os.environ.get("TYPESCRIPT"), ROOT / "node_modules" / "typescript"):
        if candidate and (Path(candidate) / "package.json").is_file():
            return Path(candidate)
    return None


def compiled_nn(workdir: Path) -> tuple[Path | None, str]:
    """nn.js compiled into workdir, or None and the reason it could not be."""
    node = shutil.which("node")
    if node is None:
        return None, "Node is not installed"
    source = _nn_source()
    if source is None:
        return None, "no Playground source (set PLAYGROUND_SRC to a fetched copy)"
    typescript = _typescript()
    if typescript is None:
        return None, "no TypeScript compiler (set TYPESCRIPT to a typescript package directory)"
    out = subprocess.run([node, "-e", _TRANSPILE, str(typescript)], input=source,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return None, f"nn.ts did not compile: {out.stderr.strip()[:200]}"
    target = workdir / "nn.cjs"
    target.write_text(out.stdout)
    return target, "compiled"


def playground_step_us(
    batches: tuple[int, ...], steps: int = 20_000
) -> tuple[dict[int, float], str]:
    """Median µs per nn.ts training step at each batch size ({} and the reason when not run)."""
    with tempfile.TemporaryDirectory() as tmp:
        nn_js, reason = compiled_nn(Path(tmp))
        if nn_js is None:
            return {}, reason
        times = {}
        for batch in batches:
            run = subprocess.run(
                [shutil.which("node"), str(DRIVER), str(nn_js), str(batch),
                 str(max(200, steps * 10 // batch))],
                capture_output=True, text=True, check=True,
            )
            times[batch] = float(json.loads(run.stdout)["us_per_step"])
        return times, f"its nn.ts{_commit()} compiled by TypeScript {_typescript_version()}"


def _typescript_version() -> str:
    return json.loads((_typescript() / "package.json").read_text())["version"]


def _commit() -> str:
    """' at commit abc1234' when the source is a git directory, else ''."""
    given = os.environ.get("PLAYGROUND_SRC", "")
    shown = subprocess.run(["git", "--git-dir", given, "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, check=False)
    return f" at commit {shown.stdout.strip()}" if shown.returncode == 0 else ""
