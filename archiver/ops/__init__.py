"""The operations: each joins the store (and, for backup and restore, the IMAP layer) into one user task.

``backup/``, ``restore/`` and ``export/`` are packages whose modules are the steps of one run; ``verify``,
``retention`` (forget, prune) and ``query`` (read-only views) are single modules.  Operations never import one
another: what two of them share moves down a layer (``archiver.store``, ``archiver.imap``,
``archiver.labels``, ``archiver.mail``, ``archiver.model``).
"""
