"""An import-linter contract type for a top-level module: grimp builds graphs of packages only
(``NotATopLevelModule`` for ``cli.py``), so this one reads the module's imports itself, lazy ones included,
and checks each against the packages it may use. Registered under ``contract_types`` in pyproject.toml."""

from __future__ import annotations

import ast
from pathlib import Path

from importlinter import Contract, ContractCheck, fields, output


class ModuleImportsContract(Contract):
    """``module_file`` (a path from the project root) imports only from ``allowed`` among ``packages``
    (the project's own top-level packages); third-party imports are not this contract's business."""

    type_name = "module_imports"

    module_file = fields.StringField()
    packages = fields.ListField(subfield=fields.StringField())
    allowed = fields.ListField(subfield=fields.StringField())

    def check(self, graph: object, verbose: bool) -> ContractCheck:
        path = Path(str(self.module_file))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        own, allowed = set(map(str, self.packages)), set(map(str, self.allowed))
        broken = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            broken += [(node.lineno, name) for name in names
                       if name.split(".")[0] in own and name.split(".")[0] not in allowed]
        return ContractCheck(kept=not broken, warnings=None, metadata={"broken": broken, "path": str(path)})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line, name in check.metadata["broken"]:
            output.print_error(f"{check.metadata['path']}:{line} imports {name}", bold=False)
            output.new_line()
