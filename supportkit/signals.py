"""blinker signals for the host application, sent in process after a commit.

Connect a receiver to react to changes without a webhook::

    from supportkit import signals

    @signals.ticket_created.connect
    def on_created(desk, *, ticket, event):
        ...

The sender is the :class:`~supportkit.desk.Desk`; keyword arguments are the ticket
(and the comment, for ``comment_added``) as supportkit values, and the stored
:class:`~supportkit.storage.Event`. Signals are sent only after the transaction that
made the change has committed, and never for a change that rolled back. A receiver
that raises does not undo the change (it is already committed): its exception
propagates to the caller of the Desk method.
"""

from __future__ import annotations

from typing import Final

from blinker import Namespace, Signal

__all__ = ["BY_EVENT", "namespace"]

namespace: Final = Namespace()

ticket_created: Final = namespace.signal("ticket-created")
ticket_updated: Final = namespace.signal("ticket-updated")
ticket_status_changed: Final = namespace.signal("ticket-status-changed")
ticket_assigned: Final = namespace.signal("ticket-assigned")
ticket_escalated: Final = namespace.signal("ticket-escalated")
ticket_resolved: Final = namespace.signal("ticket-resolved")
ticket_closed: Final = namespace.signal("ticket-closed")
ticket_reopened: Final = namespace.signal("ticket-reopened")
ticket_merged: Final = namespace.signal("ticket-merged")
ticket_update_due: Final = namespace.signal("ticket-update-due")
comment_added: Final = namespace.signal("comment-added")
sla_at_risk: Final = namespace.signal("sla-at-risk")
sla_breached: Final = namespace.signal("sla-breached")
notification_requested: Final = namespace.signal("notification-requested")

#: The signal sent for each event type.
BY_EVENT: Final[dict[str, Signal]] = {
    "ticket.created": ticket_created,
    "ticket.updated": ticket_updated,
    "ticket.status_changed": ticket_status_changed,
    "ticket.assigned": ticket_assigned,
    "ticket.escalated": ticket_escalated,
    "ticket.resolved": ticket_resolved,
    "ticket.closed": ticket_closed,
    "ticket.reopened": ticket_reopened,
    "ticket.merged": ticket_merged,
    "ticket.update_due": ticket_update_due,
    "comment.added": comment_added,
    "sla.at_risk": sla_at_risk,
    "sla.breached": sla_breached,
    "notification.requested": notification_requested,
}
