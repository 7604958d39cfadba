"""Build the standalone scripts in scripts/ from the package in src/cirelay/ (stdlib only).

Each scripts/<platform>.py is the shared core and the platform's modules inlined into one file
that runs with only requests and click installed, so a user can copy it alone and the orb can
inline it. The code is written once, in src/; never edit scripts/ by hand:

    python tools/bundle.py           # rebuild scripts/*.py
    python tools/bundle.py --check   # exit 1 when a committed script differs from a fresh build

How a module is inlined: its top-level `import`/`from` lines of other packages are hoisted (merged,
once each) to the top of the script; its imports of cirelay modules are dropped, since every name
then lives in the one module namespace; its docstring and `from __future__` line are dropped (the
script has its own). So that the flat namespace stays sound, the build refuses what it cannot keep
correct: a cirelay import in any other form (`import cirelay.x`, `as` aliases, imports inside
functions), and two modules defining the same top-level name.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
SCRIPTS = ROOT / "scripts"
PACKAGE = "cirelay"
# Each script: its file name, and the module that holds its click group `cli`.
ENTRIES = {
    "port": "cirelay.port.cli",
    "zadig": "cirelay.zadig.cli",
    "codearts": "cirelay.codearts.cli",
    "octoplant": "cirelay.octoplant.cli",
}
THIRD_PARTY = {"click", "requests", "urllib3"}


class BundleError(Exception):
    pass


def module_path(name: str) -> Path:
    base = SRC.joinpath(*name.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names, relative forms included."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if not module_path(module).name == "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


class Module:
    def __init__(self, name: str) -> None:
        self.name = name
        self.path = module_path(name)
        self.text = self.path.read_text(encoding="utf-8")
        self.tree = ast.parse(self.text, str(self.path))
        self.deps: List[str] = []  # cirelay modules it imports, in order
        self.external: List[ast.stmt] = []  # imports to hoist
        self.drop: List[Tuple[int, int]] = []  # line spans (1-based, inclusive) left out of the body
        self._scan()

    def _where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"

    def _scan(self) -> None:
        body = self.tree.body
        for index, node in enumerate(body):
            span = (node.lineno, node.end_lineno or node.lineno)
            if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                self.drop.append(span)  # the docstring
            elif isinstance(node, ast.ImportFrom):
                target = resolve(self.name, node)
                if target == "__future__":
                    self.drop.append(span)
                elif target == PACKAGE or target.startswith(PACKAGE + "."):
                    if any(alias.asname for alias in node.names):
                        raise BundleError(f"{self._where(node)}: 'as' in a cirelay import cannot be inlined")
                    for alias in node.names:  # `from cirelay import errors` names a module
                        if module_path(f"{target}.{alias.name}").exists():
                            raise BundleError(f"{self._where(node)}: import names from modules, not modules")
                    self.deps.append(target)
                    self.drop.append(span)
                else:
                    self.external.append(node)
                    self.drop.append(span)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == PACKAGE:
                        raise BundleError(f"{self._where(node)}: write `from cirelay.x import name`")
                self.external.append(node)
                self.drop.append(span)
            elif self._is_main_guard(node):
                self.drop.append(span)
        for inner in ast.walk(self.tree):
            if isinstance(inner, (ast.Import, ast.ImportFrom)) and inner not in body:
                self._check_inner(inner)

    def _check_inner(self, node: ast.Import | ast.ImportFrom) -> None:
        """An import inside a function stays where it is: fine for other packages, not for cirelay."""
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom) and node.level:
            raise BundleError(f"{self._where(node)}: a relative import inside a function cannot be inlined")
        if any(n.split(".", maxsplit=1)[0] == PACKAGE for n in names):
            raise BundleError(f"{self._where(node)}: a cirelay import inside a function cannot be inlined")

    @staticmethod
    def _is_main_guard(node: ast.stmt) -> bool:
        return (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
        )

    def defined(self) -> Set[str]:
        names: Set[str] = set()
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
        return names

    def body(self) -> str:
        lines = self.text.splitlines(keepends=True)
        for start, end in self.drop:
            for number in range(start - 1, end):
                lines[number] = ""
        return "".join(lines).strip("\n")


def ordered(entry: str) -> List[Module]:
    """The entry module and every cirelay module it needs, each after the modules it imports."""
    done: Dict[str, Module] = {}
    visiting: List[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            raise BundleError(f"import cycle: {' -> '.join([*visiting, name])}")
        visiting.append(name)
        module = Module(name)
        for dep in module.deps:
            visit(dep)
        visiting.pop()
        done[name] = module

    visit(entry)
    return list(done.values())


def hoisted(modules: List[Module]) -> str:
    """Every external import once: stdlib first, then requests/click/urllib3, as isort would."""
    plain: Set[str] = set()
    names: Dict[str, Set[str]] = {}
    for module in modules:
        for node in module.external:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    plain.add(alias.name if not alias.asname else f"{alias.name} as {alias.asname}")
            else:
                assert isinstance(node, ast.ImportFrom)
                wanted = names.setdefault(node.module or "", set())
                wanted.update(a.name if not a.asname else f"{a.name} as {a.asname}" for a in node.names)

    def group(third: bool) -> List[str]:
        def ours(module: str) -> bool:
            return (module.split(".", maxsplit=1)[0] in THIRD_PARTY) == third

        lines = [f"import {m}" for m in sorted(plain) if ours(m)]
        lines += [f"from {m} import {', '.join(sorted(n))}" for m, n in sorted(names.items()) if ours(m)]
        return lines

    return "\n".join(group(False)) + "\n\n" + "\n".join(group(True))


def build(platform: str) -> str:
    entry = ENTRIES[platform]
    modules = ordered(entry)
    seen: Dict[str, str] = {}
    for module in modules:
        for name in sorted(module.defined()):
            if name in seen and name != "__all__":
                raise BundleError(f"{name} is defined in both {seen[name]} and {module.name}: rename one")
            seen[name] = module.name
    package = Module(entry.rsplit(".", 1)[0])
    docstring = ast.get_docstring(package.tree, clean=False)
    if not docstring:
        raise BundleError(f"{package.path}: the platform package needs a docstring (the script's help)")
    sources = ", ".join(str(m.path.relative_to(ROOT)) for m in modules)
    parts = [
        "#!/usr/bin/env python3",
        f"# Generated by tools/bundle.py from src/{entry.replace('.', '/')}.py and what it imports; do not edit.",
        "# Edit the package in src/cirelay/, then run `python tools/bundle.py`. Inlined, in this order:",
        *(f"#   {s}" for s in sources.split(", ")),
        f'"""{docstring}"""',
        "",
        "from __future__ import annotations",
        "",
        hoisted(modules),
    ]
    text = "\n".join(parts) + "\n"
    for module in modules:
        body = module.body()
        if body:
            text += f"\n\n# --- {module.path.relative_to(ROOT)} " + "-" * 40 + "\n\n" + body + "\n"
    text += '\n\nif __name__ == "__main__":\n    cli()\n'
    compile(text, f"scripts/{platform}.py", "exec")
    return text


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with scripts/ instead of writing")
    parser.add_argument("platforms", nargs="*", default=sorted(ENTRIES), help="default: all")
    args = parser.parse_args(argv)
    stale = []
    for platform in args.platforms:
        try:
            text = build(platform)
        except BundleError as exc:
            print(f"bundle: {platform}: {exc}", file=sys.stderr)
            return 2
        target = SCRIPTS / f"{platform}.py"
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current == text:
            continue
        if args.check:
            stale.append(platform)
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), f"scripts/{platform}.py", "fresh build", lineterm="", n=1
            )
            print("\n".join(list(diff)[:40]), file=sys.stderr)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote scripts/{platform}.py")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python tools/bundle.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
