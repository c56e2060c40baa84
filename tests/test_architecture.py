"""The house rules of ARCHITECTURE.md that a reader cannot check at a glance.

- Layers point one way (ARCHITECTURE.md): the firmware imports nothing of the host, and each
  host package imports only packages of a lower layer, which also means no two host packages
  import each other, however indirectly.
- No function over 80 lines in firmware or host code, unless its docstring says why
  ("Why this long: ...").

Imports are read from the source (function-level ones included), so an import hidden in a
function body to dodge a cycle is still an import.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = REPO / "host_tools"
CONSOLE = REPO / "bourg_console"  # the town console: one unit, below the demo and bench
FIRMWARE = REPO / "firmware"
# The host's layers, lowest first. A unit (a package of host_tools or a top-level module) may
# import only units of a lower layer; a new package must be placed here before it is used.
LAYERS: list[set[str]] = [
    {"host_tools", "host_tools.build"},
    {"host_tools.emulator", "host_tools.field"},
    {"host_tools.testing"},
    {"host_tools.lighting", "host_tools.locker", "host_tools.parking"},
    {"host_tools.soak"},
    {"bourg_console"},
    {"host_tools.bench", "host_tools.demo"},
    {"host_tools.commands"},
    {"host_tools.cli"},
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
MAX_LINES = 80
WHY_LONG = "Why this long:"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every host_tools module `path` imports, with `from x import y` giving x and x.y."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(name + "." + alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] in ("host_tools", "bourg_console")}


def _unit(module: str) -> str:
    """The unit a layer rule speaks of: a package of host_tools, a top-level module, or the
    console (one unit)."""
    if module.split(".")[0] == "bourg_console":
        return "bourg_console"
    return ".".join(module.split(".")[:2])


def _exists(unit: str) -> bool:
    path = REPO / unit.replace(".", "/")
    return path.is_dir() or path.with_suffix(".py").exists()


def _host_sources() -> list[Path]:
    # fw/ is the emulator's MicroPython side: it runs in the VM and imports no host code
    return [p for p in HOST.rglob("*.py") if "fw" not in p.relative_to(HOST).parts] + \
        [p for p in CONSOLE.rglob("*.py") if "migrations" not in p.relative_to(CONSOLE).parts]


def _unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _host_sources():
        src = _unit(_module_name(path))
        for target in {_unit(m) for m in _imports(path)}:
            if target != src and _exists(target):
                graph.setdefault(src, set()).add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_firmware_imports_nothing_of_the_host() -> None:
    offenders = {str(p.relative_to(REPO)): sorted(_imports(p))
                 for p in FIRMWARE.rglob("*.py") if _imports(p)}
    assert offenders == {}


def _downward_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a unit from its own layer or one above it, and every unplaced unit."""
    out = []
    for src in sorted(graph):
        if src not in RANK:
            out.append(f"{src} is in no layer")
            continue
        for dst in sorted(graph[src]):
            if dst not in RANK:
                out.append(f"{dst} (imported by {src}) is in no layer")
            elif RANK[dst] >= RANK[src]:
                out.append(f"{src} (layer {RANK[src]}) imports {dst} (layer {RANK[dst]})")
    return out


def test_every_host_package_imports_only_lower_layers() -> None:
    assert _downward_violations(_unit_graph()) == []


def test_the_layer_rule_sees_an_upward_import() -> None:
    """The rule above would pass vacuously if the checker were blind."""
    assert _downward_violations({"host_tools.emulator": {"host_tools.testing"}}) == [
        "host_tools.emulator (layer 1) imports host_tools.testing (layer 2)"]
    assert _downward_violations({"host_tools.field": {"host_tools.emulator"}}) == [
        "host_tools.field (layer 1) imports host_tools.emulator (layer 1)"]
    assert _downward_violations({"host_tools.new": {"host_tools.build"}}) == [
        "host_tools.new is in no layer"]


def test_the_console_runs_on_no_virtual_board() -> None:
    """The console is a service for a town: it may use the field tools (the registry, the
    SMS providers) but nothing made for tests and benches."""
    used = _unit_graph().get("bourg_console", set())
    assert used & {"host_tools.emulator", "host_tools.testing", "host_tools.soak",
                   "host_tools.bench", "host_tools.demo"} == set()


def test_every_host_package_on_disk_has_a_layer() -> None:
    units = {_unit(_module_name(p)) for p in _host_sources()}
    assert sorted(units - set(RANK)) == []


def test_no_two_host_packages_import_each_other() -> None:
    assert _cycles(_unit_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The rule above would pass vacuously if the finder were blind."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _long_functions(root: Path) -> list[str]:
    out = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_LINES and WHY_LONG not in (ast.get_docstring(node) or ""):
                out.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines})")
    return out


def test_no_function_is_over_80_lines_without_saying_why() -> None:
    assert _long_functions(FIRMWARE) + _long_functions(HOST) + _long_functions(CONSOLE) == []


DESC_COLUMN = 22  # where the layout's descriptions start: names sit left of it


def _layout_sections(text: str) -> dict[str, str]:
    """The layout tree of ARCHITECTURE.md as {folder: the text under it}. A line whose first
    word sits left of the description column is a name: a word ending in "/" opens a folder,
    nested by its indent, and any name closes the folders indented as deep or deeper. Every
    other line belongs to the folder open above it."""
    block = text.split("## Layout", 1)[-1].split("```")
    tree = block[1] if len(block) > 2 else ""
    stack: list[tuple[int, str]] = []  # (indent, folder path)
    out: dict[str, str] = {}
    for line in tree.splitlines():
        m = re.match(r"( *)(\S+)", line)
        if m is None:
            continue
        indent, word = len(m.group(1)), m.group(2)
        if indent < DESC_COLUMN:
            while stack and stack[-1][0] >= indent:
                stack.pop()
            if word.endswith("/"):
                stack.append((indent, (stack[-1][1] if stack else "") + word))
                line = line[m.end():]
        if stack:
            out[stack[-1][1]] = out.get(stack[-1][1], "") + line + "\n"
    return out


def _unnamed_in_architecture(text: str) -> list[str]:
    """Source files the layout of ARCHITECTURE.md does not name under their own folder (by
    file or module name), so that the map stays file for file. The virtual board's overlays
    (emulator/fw/) are named as a group."""
    sections = _layout_sections(text)
    out = []
    for root in (FIRMWARE, HOST, CONSOLE, REPO / "tools"):
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(REPO)
            if path.name == "__init__.py" or "fw" in rel.parts or path.name == "main.py" \
                    or "migrations" in rel.parts:
                continue
            said = sections.get(rel.parent.as_posix() + "/", "")
            if not re.search(r"\b" + re.escape(path.stem) + r"\b", said):
                out.append(rel.as_posix())
    return out


def _stale_in_architecture(text: str) -> list[str]:
    """Files the layout names (`name.py` under a folder) that are not in that folder."""
    return [folder + name for folder, said in _layout_sections(text).items()
            for name in re.findall(r"(?<![\w/.<>])(\w+\.py)\b", said)
            if not (REPO / folder / name).exists()]


def test_architecture_md_names_every_source_file_under_its_folder() -> None:
    text = (REPO / "ARCHITECTURE.md").read_text()
    assert _unnamed_in_architecture(text) == []
    assert _stale_in_architecture(text) == []


def test_the_map_check_places_each_name_in_its_folder() -> None:
    """A name in the wrong folder, a file the map forgets and one it keeps after a move are
    all seen."""
    text = "## Layout\n```\nhost_tools/\n  field/       flash.py\n  commands/    deploy.py\n```\n"
    missing = _unnamed_in_architecture(text)
    assert "host_tools/field/deploy.py" in missing and "host_tools/field/flash.py" not in missing
    assert "host_tools/commands/flash.py" in missing
    assert _stale_in_architecture(text.replace("flash.py", "flush.py")) == [
        "host_tools/field/flush.py"]
