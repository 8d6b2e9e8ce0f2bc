"""The product package holds the product: production never loads the sandbox, the import graph has no cycle, and
what the servers import is installed by requirements.txt (the test tools are requirements-dev.txt's alone).

The graph is read from the source with `ast` (nothing is imported), over every module of app/ and
sandbox/ and the two entry-point modules beside them. An import of a name from a package counts as an
import of that submodule when one exists (`from sandbox.stripe import customers`), else of the package.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from tests.servers import ROOT
from tests.unit.test_config import PRODUCTION

PACKAGES = ("app", "sandbox")
ENTRY_POINTS = ("config", "wsgi")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}
    found.update({name: ROOT / f"{name}.py" for name in ENTRY_POINTS})
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that `name` imports, wherever in the file (a function's local import too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..y import z
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of an unknown leaf: its package
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules in order, the first repeated at the end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def is_sandbox(module: str) -> bool:
    return module == "sandbox" or module.startswith("sandbox.")


def test_the_graph_is_read_from_every_module_of_both_packages():
    edges = graph()
    assert {"app", "app.bootstrap", "app.gateways.stripe", "sandbox.compose", "sandbox.stripe.customers"} <= set(edges)
    assert "sandbox.stripe.subscriptions" in edges["sandbox.stripe.cascades"]  # what the test reads is real
    assert "sandbox.compose" in edges["wsgi"]


def test_no_import_cycle_anywhere():
    assert cycle(graph()) is None


def test_the_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_app_never_imports_the_sandbox():
    arrows = {(source, target) for source, targets in graph().items() if source.startswith("app")
              for target in targets if is_sandbox(target)}
    assert arrows == set()


def test_a_production_app_loads_no_module_of_the_sandbox(tmp_path):
    """wsgi.py in production, in a fresh interpreter: not one `sandbox` module in sys.modules, and no /dev route."""
    script = (
        "import json, sys\n"
        "import wsgi\n"
        "from app import create_app\n"
        "from config import Config\n"
        "again = create_app(Config.from_env(dotenv=False))\n"
        "print(json.dumps({'modules': sorted(m for m in sys.modules if m.split('.')[0] == 'sandbox'),\n"
        "                  'dev': sorted(r.rule for a in (wsgi.app, again) for r in a.url_map.iter_rules()\n"
        "                                if r.rule.startswith('/dev')),\n"
        "                  'routes': len(list(wsgi.app.url_map.iter_rules()))}))\n"
    )
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "CLERK_", "SUPABASE_"))},
           **PRODUCTION, "INSTANCE_PATH": str(tmp_path), "REDIS_URL": "", "SENTRY_DSN": ""}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["routes"] > 10  # the app was built, with its routes
    assert seen["modules"] == [] and seen["dev"] == []


def test_a_development_app_has_the_sandbox_for_comparison(tmp_path):
    """The same script outside production does load it: the production test above can fail."""
    script = "import sys, wsgi\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'sandbox')[:1])\n"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "CLERK_", "SUPABASE_", "APP_"))},
           "INSTANCE_PATH": str(tmp_path), "REDIS_URL": ""}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("['sandbox']")


def requirement_lines(path: Path) -> list[str]:
    """The requirements a file names, itself or through `-r`."""
    lines = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            lines += requirement_lines(path.parent / line[3:].strip())
        elif line:
            lines.append(line)
    return lines


def requirement_names(path: Path) -> set[str]:
    """The distributions a requirements file names (canonical names)."""
    return {canonical(Requirement(line).name) for line in requirement_lines(path)}


def installed_by(path: Path) -> set[str]:
    """Every distribution installing `path` brings: what it names, their extras, and so on down."""
    found: set[str] = set()
    pending = [Requirement(line) for line in requirement_lines(path)]
    while pending:
        wanted = pending.pop()
        name = canonical(wanted.name)
        extras = {*wanted.extras, ""}
        if (name, *sorted(extras)) in found:
            continue
        found.add((name, *sorted(extras)))
        for text in metadata.requires(wanted.name) or []:
            needed = Requirement(text)
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(needed)
    return {name for name, *_ in found}


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> the files importing it, over the modules the servers run (gunicorn.conf.py too),
    leaving out the standard library and our own."""
    ours = {*PACKAGES, *ENTRY_POINTS}
    found: dict[str, set[str]] = {}
    for name, path in {**modules(), "gunicorn_conf": ROOT / "gunicorn.conf.py"}.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            tops = ([alias.name.split(".")[0] for alias in node.names] if isinstance(node, ast.Import)
                    else [node.module.split(".")[0]] if isinstance(node, ast.ImportFrom) and node.level == 0
                    and node.module else [])
            for top in tops:
                if top not in sys.stdlib_module_names and top not in ours and top != "__future__":
                    found.setdefault(top, set()).add(name)
    return found


def test_what_the_servers_import_is_in_the_deployed_requirements():
    """Railway installs requirements.txt alone: a server module importing a test tool would fail only there."""
    deployed = installed_by(ROOT / "requirements.txt")
    distributions = metadata.packages_distributions()
    imported = third_party_imports()
    assert {"flask", "stripe", "svix", "gevent"} <= set(imported)  # the walk sees the imports
    missing = {top: sorted(where) for top, where in imported.items()
               if not {canonical(d) for d in distributions.get(top, [top])} & deployed}
    assert not missing, f"imported by the service but not in requirements.txt: {missing}"


def test_the_test_tools_are_not_deployed():
    """What the check above would catch: each test tool is installed by requirements-dev.txt alone."""
    deployed = installed_by(ROOT / "requirements.txt")
    assert {"werkzeug", "httpx", "postgrest"} <= deployed  # what flask and supabase bring
    assert "gunicorn" in deployed  # what railway.json and the Procfile start, though no module imports it
    assert not {"selenium", "schemathesis", "hypothesis", "respx", "psycopg", "trio", "rich"} & deployed
    assert requirement_names(ROOT / "requirements.txt") < requirement_names(ROOT / "requirements-dev.txt")
