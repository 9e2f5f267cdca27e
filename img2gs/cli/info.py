"""`img2gs info`: versions, torch device, rasterizer backends, optional extras, checkpoint paths."""

from __future__ import annotations

from rich.table import Table

from img2gs.cli.app import command, console


@command()
def info() -> None:
    """Show versions, the torch device, available rasterizer backends and extras, and model paths."""
    from img2gs.pipeline.info import environment_report

    report = environment_report()
    console.print(f"img2gs {report.img2gs_version}  (python {report.python})")
    console.print(f"torch device: {report.torch_device}, {report.torch_threads} CPU threads")

    backends = Table(title="rasterizer backends", title_justify="left")
    backends.add_column("backend")
    backends.add_column("available")
    backends.add_column("why")
    for name, (ok, why) in report.backends.items():
        backends.add_row(name, "yes" if ok else "no", why)
    console.print(backends)

    packages = Table(title="packages", title_justify="left")
    packages.add_column("package")
    packages.add_column("version")
    for name, version in report.packages.items():
        packages.add_row(name, version or "[dim]not installed[/]")
    console.print(packages)

    console.print("checkpoints are looked for in:")
    for path in report.checkpoint_paths:
        console.print(f"  {path}")
    console.print(f"default checkpoint: {report.default_checkpoint or 'none found'}")
