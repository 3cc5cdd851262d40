"""`gmail-archiver stats`: sizes and counts of an archive."""

from __future__ import annotations

from typing import Annotated

import typer

from archiver.cli._common import EXIT_CODES_HELP, ArchiveArg, emit_json, handle_errors, open_view
from archiver.cli.render import stats_json


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def register(app: typer.Typer) -> None:
    @app.command("stats", epilog=EXIT_CODES_HELP)
    @handle_errors()
    def stats(
        archive: ArchiveArg,
        json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    ) -> None:
        """Show what an archive holds: packs, messages (blobs), stored vs raw bytes, snapshots, accounts.

        --json keys: packs, blobs, raw_bytes, blob_stored_bytes, ratio (raw / stored), pages, pack_bytes,
        total_bytes, snapshots, partial_snapshots, accounts, per_account (account -> snapshots),
        dictionaries (ids), dictionary_bytes, blobs_with_dictionary.
        """
        st = open_view(archive).archive.stats()
        if json:
            emit_json(stats_json(st))
            return
        lines = [
            ("messages (unique blobs)", f"{st.blobs:,}"),
            ("raw size", _mb(st.raw_bytes)),
            ("stored size", f"{_mb(st.blob_stored_bytes)} (ratio {st.ratio:.2f}x)"),
            ("packs", f"{st.packs:,} ({_mb(st.pack_bytes)})"),
            ("manifest pages", f"{st.pages:,}"),
            ("snapshots", f"{st.snapshots:,}" + (f" ({st.partial_snapshots} partial)" if st.partial_snapshots
                                                 else "")),
            ("accounts", ", ".join(st.accounts) or "-"),
            ("dictionary", (f"{st.dictionaries[0][:12]} ({st.dictionary_bytes:,} bytes, used by "
                            f"{st.blobs_with_dictionary:,} blobs)") if st.dictionaries else "none yet"),
            ("archive size", _mb(st.total_bytes)),
        ]
        for name, value in lines:
            typer.echo(f"{name + ':':26}{value}")
