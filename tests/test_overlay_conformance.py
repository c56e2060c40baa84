"""The virtual board's port modules accept nothing that the pinned image lacks.

Each overlay in host_tools/emulator/fw that stands for a built-in (or frozen) module of the
ESP32 port is compared, with `ast`, against the stubs of exactly that image
(micropython-esp32-esp32-generic-stubs, installed by `make setup` into build/stubs-esp32):
every public module attribute, class, method and class attribute of the overlay must be in the
stub, and every parameter a function accepts must be one the stub's signature (any overload)
takes, by position and by keyword. A `*args`/`**kw` in an overlay stands for parameters the stub
has that the overlay does not name. Private names and dunder methods other than `__init__` are
exempt; `__new__` is exempt because `__init__` gets the same arguments. Integer, bool and string
constants must have the stub's value.

An overlay that is kinder than the chip lets firmware pass its tests and then fail on the board:
remove the extra from the overlay. Where the stub is wrong (checked against the port's C source
at v1.28.0), allow it below with the reason.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FW = REPO / "host_tools" / "emulator" / "fw"
STUBS = REPO / "build" / "stubs-esp32"
STUB_DIST = "micropython_esp32_esp32_generic_stubs"
# the overlays that stand for the port's modules (the others, _world, _boot..., are the emulator's)
PORT_MODULES = ("machine", "time", "network", "espnow", "aioespnow", "esp32", "neopixel",
                "select", "socket", "ntptime")

# finding -> reason. Each reason was checked against the port's source at v1.28.0
# (ports/esp32, extmod, micropython-lib for frozen modules).
ALLOWED = {
    # -- the stub is narrower than the port (ports/esp32, extmod at v1.28.0) --
    "machine.sleep(): positional parameter 1 'time_ms'":
        "modmachine.c: machine.sleep is machine_lightsleep_obj (0-1 args)",
    "machine.Pin.__init__(): keyword 'hold'": "machine_pin.c: hold is a keyword of Pin.init",
    "machine.Pin.init(): keyword 'hold'": "machine_pin.c: hold is a keyword of Pin.init",
    "machine.Pin.irq(): positional parameter 3 'wake'":
        "machine_pin.c: irq(handler, trigger, wake), all three positional",
    "machine.PWM.__init__(): keyword 'duty'": "machine_pwm.c: duty is a keyword",
    "machine.PWM.init(): keyword 'duty'": "machine_pwm.c: duty is a keyword",
    "machine.WDT.__init__(): positional parameter 1 'id'":
        "extmod/machine_wdt.c: id and timeout are positional or keyword",
    "machine.WDT.__init__(): positional parameter 2 'timeout'":
        "extmod/machine_wdt.c: id and timeout are positional or keyword",
    # the port takes these positionally only, so their names are no part of the API
    "machine.ADC.__init__(): parameter 1 is 'pin', the stub's is 'id'":
        "machine_adc.c make_new: args[0], positional only",
    "machine.ADC.atten(): parameter 1 is 'a', the stub's is 'atten'":
        "extmod/machine_adc.c: FUN_OBJ_2, positional only",
    "machine.ADC.width(): parameter 1 is 'w', the stub's is 'bits'":
        "extmod/machine_adc.c: FUN_OBJ_2, positional only",
    "machine.RTC.datetime(): parameter 1 is 'dt', the stub's is 'datetimetuple'":
        "machine_rtc.c: FUN_OBJ_VAR_BETWEEN, positional only",
    "esp32.Partition.find(): positional parameter 3 'block_size'":
        "esp32_partition.c: find's four arguments are mp_arg_parse_all ones, none keyword-only",
    # -- the chip has it, elsewhere than the stub says --
    "neopixel.bitstream: not in the stub": "the frozen neopixel.py imports it from machine",
    "espnow.ESPNow.ioctl(): not in the stub":
        "select.poll calls a Python stream's ioctl by name; the chip's is in the C stream protocol",
    "aioespnow.AIOESPNow.ioctl(): not in the stub": "inherited from espnow.ESPNow (above)",
    "espnow.ESPNow.peers_table: not in the stub":
        "modespnow.c espnow_attr: a dict attribute; the stub names it only in a docstring",
    "aioespnow.AIOESPNow.peers_table: not in the stub": "inherited from espnow.ESPNow (above)",
}


@dataclass
class Sig:
    positional: list[tuple[str, bool]]  # (name, positional-only)
    kwonly: list[str]
    vararg: bool
    kwarg: bool

    @classmethod
    def of(cls, fn: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> Sig:
        a = fn.args
        pos = [(p.arg, True) for p in a.posonlyargs] + [(p.arg, False) for p in a.args]
        if method and pos:
            pos = pos[1:]  # self / cls
        return cls(pos, [p.arg for p in a.kwonlyargs], a.vararg is not None, a.kwarg is not None)

    def keyword_names(self) -> set[str]:
        return {n for n, po in self.positional if not po} | set(self.kwonly)


@dataclass
class Scope:
    """A module's or a class's public surface: functions (all overloads), classes, values."""
    funcs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    values: dict[str, ast.expr | None] = field(default_factory=dict)
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (module, name)
    bases: list[ast.expr] = field(default_factory=list)
    module: str = ""


def _scope(body: list[ast.stmt], module: str, stub: bool) -> Scope:
    s = Scope(module=module)

    def walk(stmts: list[ast.stmt]) -> None:
        for st in stmts:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
                s.funcs.setdefault(st.name, []).append(st)
            elif isinstance(st, ast.ClassDef):
                s.classes[st.name] = st
            elif isinstance(st, ast.Assign):
                for t in st.targets:
                    for n in ([t] if isinstance(t, ast.Name) else getattr(t, "elts", [])):
                        if isinstance(n, ast.Name):
                            s.values[n.id] = st.value
            elif isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
                s.values[st.target.id] = st.value
            elif isinstance(st, ast.ImportFrom) and st.module:
                for a in st.names:
                    # in a stub only `from m import x as x` re-exports (PEP 484)
                    if not stub or a.asname == a.name:
                        s.imports[a.asname or a.name] = (st.module, a.name)
            elif isinstance(st, ast.If):
                walk(st.body)
                walk(st.orelse)
            elif isinstance(st, ast.Try):
                walk(st.body)
                for h in st.handlers:
                    walk(h.body)
                walk(st.orelse)

    walk(body)
    return s


_STUB_CACHE: dict[str, Scope | None] = {}


def stub_module(name: str) -> Scope | None:
    if name not in _STUB_CACHE:
        path = next((p for p in (STUBS / f"{name.replace('.', '/')}.pyi",
                                 STUBS / name.replace(".", "/") / "__init__.pyi",
                                 STUBS / "stdlib" / f"{name}.pyi") if p.exists()), None)
        _STUB_CACHE[name] = None if path is None else _scope(
            ast.parse(path.read_text()).body, name, stub=True)
    return _STUB_CACHE[name]


def _class_scope(cls: ast.ClassDef, module: str, stub: bool) -> Scope:
    s = _scope(cls.body, module, stub)
    s.bases = cls.bases
    return s


def _resolve_base(base: ast.expr, module: str, load) -> Scope | None:
    """The scope of a base class named in `module`: same module, imported, or `mod.Cls`."""
    if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name):
        mod, name = base.value.id, base.attr
    elif isinstance(base, ast.Name):
        mod, name = module, base.id
    else:
        return None
    for _ in range(5):  # follow re-exports
        m = load(mod)
        if m is None:
            return None
        if name in m.classes:
            return _class_scope(m.classes[name], mod, stub=load is stub_module)
        if name not in m.imports:
            return None
        mod, name = m.imports[name]
    return None


def lineage(cls: Scope, load) -> list[Scope]:
    """The class and its bases, nearest first."""
    out, todo = [], [cls]
    while todo:
        c = todo.pop(0)
        out.append(c)
        todo += [b for b in (_resolve_base(x, c.module, load) for x in c.bases) if b]
    return out


def _refused(o: Sig, s: Sig) -> dict[tuple, str]:
    """What the overlay signature `o` accepts that the stub signature `s` does not."""
    bad = {}
    for i, (name, _) in enumerate(o.positional):
        if i < len(s.positional):
            sname, posonly = s.positional[i]
            if not posonly and sname != name:
                bad["pos", i] = f"parameter {i + 1} is {name!r}, the stub's is {sname!r}"
        elif not s.vararg:
            bad["pos", i] = f"positional parameter {i + 1} {name!r}"
    for name in o.kwonly:
        if name not in s.keyword_names() and not s.kwarg:
            bad["kw", name] = f"keyword {name!r}"
    if o.vararg and not s.vararg and len(s.positional) <= len(o.positional):
        bad["*"] = "*args"
    if o.kwarg and not s.kwarg and not (s.keyword_names() -
                                        {n for n, _ in o.positional} - set(o.kwonly)):
        bad["**"] = "**kwargs"
    return bad


def _check_func(where: str, fn, stub_fns, method: bool) -> list[str]:
    """Each thing the overlay accepts must be accepted by some overload of the stub."""
    o = Sig.of(fn, method)
    per = [_refused(o, Sig.of(f, method)) for f in stub_fns]
    if not per:
        return []
    return [f"{where}: {msg}" for key, msg in per[0].items() if all(key in b for b in per)]


def _literal(v: ast.expr | None):
    if isinstance(v, ast.Constant) and isinstance(v.value, (bool, int, str)):
        return v.value
    if isinstance(v, ast.UnaryOp) and isinstance(v.op, ast.USub):
        inner = _literal(v.operand)
        return -inner if isinstance(inner, int) else None
    return None


def _public(name: str) -> bool:
    return not name.startswith("_") or name == "__init__"


def _check_values(where: str, o: Scope, stub_scopes: list[Scope], o_values_env) -> list[str]:
    out = []
    for name, v in o.values.items():
        if not _public(name):
            continue
        sv = next((sc.values[name] for sc in stub_scopes if name in sc.values), None)
        have = any(name in sc.values or name in sc.funcs or name in sc.classes
                   or name in sc.imports for sc in stub_scopes)
        if not have:
            out.append(f"{where}.{name}: not in the stub")
            continue
        ov, svv = _literal(o_values_env(v)), _literal(sv)
        if ov is not None and svv is not None and ov != svv:
            out.append(f"{where}.{name}: value {ov!r}, the stub's {svv!r}")
    return out


def overlay_module(name: str) -> Scope | None:
    p = FW / f"{name}.py"
    return _scope(ast.parse(p.read_text()).body, name, stub=False) if p.exists() else None


def findings(module: str) -> list[str]:
    ov = overlay_module(module)
    st = stub_module(module)
    assert ov is not None, f"no overlay {module}.py"
    if st is None:
        return [f"{module}: no stub"]
    out = []

    def env(v):
        # `PM_NONE = _PM_NONE`: the value of a module-level private constant
        if isinstance(v, ast.Name) and v.id in ov.values:
            return ov.values[v.id]
        return v

    out += _check_values(module, ov, [st], env)
    for name in ov.imports:
        if _public(name) and not any(name in d for d in (st.values, st.funcs, st.classes,
                                                          st.imports)):
            out.append(f"{module}.{name}: not in the stub")
    for name, fns in ov.funcs.items():
        if not _public(name):
            continue
        if name not in st.funcs:
            if name not in st.values and name not in st.classes and name not in st.imports:
                out.append(f"{module}.{name}(): not in the stub")
            continue
        out += _check_func(f"{module}.{name}()", fns[-1], st.funcs[name], method=False)
    # aliases (`sleep = lightsleep`) take the signature of what they name
    for name, v in ov.values.items():
        if _public(name) and isinstance(v, ast.Name) and v.id in ov.funcs and name in st.funcs:
            out += _check_func(f"{module}.{name}()", ov.funcs[v.id][-1], st.funcs[name], False)
    for cname, cdef in ov.classes.items():
        if not _public(cname):
            continue
        if cname not in st.classes:
            out.append(f"{module}.{cname}: not in the stub")
            continue
        where = f"{module}.{cname}"
        ocls = lineage(_class_scope(cdef, module, stub=False), overlay_module)
        scls = lineage(_class_scope(st.classes[cname], module, stub=True), stub_module)
        seen: set[str] = set()
        for oc in ocls:  # own members first, then inherited ones the class does not override
            members = {k: v for k, v in oc.values.items() if k not in seen}
            out += _check_values(where, Scope(values=members), scls, env)
            for mname, fns in oc.funcs.items():
                if mname in seen or not _public(mname) or (
                        mname.startswith("__") and mname != "__init__"):
                    continue
                stub_fns = next((sc.funcs[mname] for sc in scls if mname in sc.funcs), None)
                if stub_fns is None:
                    if not any(mname in sc.values for sc in scls):
                        out.append(f"{where}.{mname}(): not in the stub")
                    continue
                out += _check_func(f"{where}.{mname}()", fns[-1], stub_fns, method=True)
            seen |= set(oc.funcs) | set(oc.values)
    return out


def _need_stubs() -> None:
    dists = sorted(STUBS.glob(f"{STUB_DIST}-*.dist-info")) if STUBS.is_dir() else []
    if not dists:
        pytest.fail(f"the ESP32 stubs are not installed in {STUBS.relative_to(REPO)}: "
                    "run `make setup`", pytrace=False)


def _image_version() -> str:
    text = (REPO / "firmware" / "lib" / "bourg" / "__init__.py").read_text()
    m = re.search(r"IMAGE_VERSION = \((\d+), (\d+), (\d+)\)", text)
    assert m, "IMAGE_VERSION not found in firmware/lib/bourg/__init__.py"
    return ".".join(m.groups())


def test_stubs_are_those_of_the_pinned_image() -> None:
    _need_stubs()
    (dist,) = STUBS.glob(f"{STUB_DIST}-*.dist-info")
    version = dist.name[len(STUB_DIST) + 1:-len(".dist-info")]
    assert version.split(".post")[0] == _image_version(), (
        f"stubs {version} are not those of the image v{_image_version()}: fix the pins in the "
        "Makefile (ESP32_STUBS) and run `make setup`")


@pytest.mark.parametrize("module", PORT_MODULES)
def test_overlay_accepts_nothing_the_image_lacks(module: str) -> None:
    _need_stubs()
    found = findings(module)
    unexpected = [f for f in found if f not in ALLOWED]
    assert not unexpected, (
        f"host_tools/emulator/fw/{module}.py accepts what ESP32_GENERIC v{_image_version()} "
        "does not (remove it from the overlay, or allow it in ALLOWED with the reason):\n  "
        + "\n  ".join(unexpected))


def test_allow_list_has_no_stale_entries() -> None:
    _need_stubs()
    found = {f for m in PORT_MODULES for f in findings(m)}
    stale = sorted(set(ALLOWED) - found)
    assert not stale, "allowed findings that no longer occur (remove them): " + ", ".join(stale)


def test_check_catches_an_invented_keyword(tmp_path: Path, monkeypatch) -> None:
    """The check can fail: an overlay with a keyword, a parameter and a function the stub lacks."""
    _need_stubs()
    fake = tmp_path / "time.py"
    fake.write_text("def sleep_ms(ms, *, wake=False):\n    pass\n\n"
                    "def sleep_us(us, extra):\n    pass\n\n"
                    "def nap():\n    pass\n\nTICKS_MAX = 1\n")
    monkeypatch.setitem(globals(), "FW", tmp_path)
    assert sorted(findings("time")) == [
        "time.TICKS_MAX: not in the stub",
        "time.nap(): not in the stub",
        "time.sleep_ms(): keyword 'wake'",
        "time.sleep_us(): positional parameter 2 'extra'",
    ]
