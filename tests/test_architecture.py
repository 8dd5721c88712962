"""The import structure stays as docs/architecture.md draws it. Every module of the project's packages is
parsed (imports inside functions count too; migrations are left out) and:

- no module imports another in a cycle, through any number of modules;
- the apps are layered, assets -> stock -> telemetry -> alarms -> analytics -> web: a module imports its own
  app and the apps below it, never one above;
- pms_site is the project: its settings and urls name the apps only in strings; the apps import only its
  shared modules (SHARED_PROJECT_MODULES), and no pms_site module imports an app;
- tasks import services, never the reverse: no services module, and no module of the ingest package,
  reaches a tasks module through its imports (services queue work by task name, telemetry/queue.py).
"""

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_LAYERS = ("assets", "stock", "telemetry", "alarms", "analytics", "web")  # each may import those before it
PROJECT = "pms_site"
# What the apps may import of pms_site: bases and plumbing that import no app.
SHARED_PROJECT_MODULES = {
    "pms_site",
    "pms_site.admin",
    "pms_site.celery",
    "pms_site.forms",
    "pms_site.timefmt",
}


def project_modules():
    """{module name: (path, is a package)} of every module of the apps and pms_site, migrations aside."""
    modules = {}
    for package in (*APP_LAYERS, PROJECT):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            is_package = parts[-1] == "__init__"
            modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def imported_modules(source, *, module, is_package, known):
    """The modules of ``known`` that ``source`` (the text of ``module``) imports, wherever the import is."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                parent = package[: len(package) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            # "from telemetry import services" imports a module; "from telemetry.models import Site", a name.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def import_graph():
    modules = project_modules()
    return {
        module: imported_modules(path.read_text(), module=module, is_package=is_package, known=modules)
        for module, (path, is_package) in modules.items()
    }


GRAPH = import_graph()


def package_of(module):
    return module.partition(".")[0]


def reachable_from(module):
    seen, waiting = set(), [module]
    while waiting:
        for imported in GRAPH[waiting.pop()] - seen:
            seen.add(imported)
            waiting.append(imported)
    return seen


def is_tasks_module(module):
    name = module.rpartition(".")[2]
    return name == "tasks" or name.endswith("_tasks")


def test_the_walk_finds_imports_inside_functions_relative_ones_and_imported_submodules():
    source = (
        "from django.apps import AppConfig\n"
        "from telemetry import services\n"
        "from . import receivers\n"
        "from .models import Alarm\n"
        "class AlarmsConfig(AppConfig):\n"
        "    def ready(self):\n"
        "        from telemetry.signals import batches_stored\n"
        "        import assets.models\n"
    )

    imported = imported_modules(source, module="alarms.apps", is_package=False, known=GRAPH)

    assert imported == {
        "telemetry.services",
        "alarms.receivers",
        "alarms.models",
        "telemetry.signals",
        "assets.models",
    }
    assert {"telemetry.ingest.core", "alarms.apps", "pms_site.celery"} <= GRAPH.keys()


def test_no_module_imports_another_in_a_cycle():
    try:
        list(graphlib.TopologicalSorter(GRAPH).static_order())
    except graphlib.CycleError as error:
        cycle = error.args[1]
        raise AssertionError(f"Import cycle: {' -> '.join(reversed(cycle))}") from None


def test_no_app_imports_an_app_above_it():
    upward = [
        f"{module} -> {imported}"
        for module, imports in GRAPH.items()
        if package_of(module) in APP_LAYERS
        for imported in imports
        if package_of(imported) in APP_LAYERS
        and APP_LAYERS.index(package_of(imported)) > APP_LAYERS.index(package_of(module))
    ]

    layers = " -> ".join(APP_LAYERS)
    assert upward == [], f"Imports up the layers ({layers}): " + ", ".join(upward)


def test_apps_import_only_the_shared_project_modules():
    wrong = [
        f"{module} -> {imported}"
        for module, imports in GRAPH.items()
        if package_of(module) in APP_LAYERS
        for imported in imports
        if package_of(imported) == PROJECT and imported not in SHARED_PROJECT_MODULES
    ]

    assert wrong == [], "Apps importing pms_site modules other than the shared ones: " + ", ".join(wrong)


def test_the_project_imports_no_app():
    wrong = [
        f"{module} -> {imported}"
        for module, imports in GRAPH.items()
        if package_of(module) == PROJECT
        for imported in imports
        if package_of(imported) in APP_LAYERS
    ]

    assert wrong == [], "pms_site importing apps (settings and urls name them in strings): " + ", ".join(
        wrong
    )


def test_services_and_the_ingest_package_never_reach_a_task():
    starts = [
        module
        for module in GRAPH
        if module.rpartition(".")[2] == "services" or module.startswith("telemetry.ingest")
    ]
    assert "telemetry.services" in starts and "telemetry.ingest.batches" in starts

    wrong = [
        f"{module} reaches {tasks}"
        for module in starts
        for tasks in sorted(reachable_from(module))
        if is_tasks_module(tasks)
    ]

    assert wrong == [], "Tasks import services, never the reverse: " + ", ".join(wrong)
