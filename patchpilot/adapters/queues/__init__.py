"""The reconcile queue: one port, two backends.

In Azure, triggers fan out through an Azure Storage queue (the Functions host
delivers its messages to the `reconcile` queue trigger); locally, the demo and
the local Functions host use a SQLite queue whose visibility follows the
virtual clock. :func:`open_queue` picks the backend from settings.
"""

from patchpilot.adapters.queues.interface import Delivery, MessageQueue

__all__ = ["Delivery", "MessageQueue"]
