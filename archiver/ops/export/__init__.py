"""Export: a snapshot (or a filtered part) to mbox, Maildir or one .eml per message.

``operation`` selects and streams the blobs; ``formats`` writes each output format.
"""

from archiver.ops.export.operation import ExportProblem, ExportResult, export

__all__ = ["ExportProblem", "ExportResult", "export"]
