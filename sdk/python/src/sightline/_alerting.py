"""Watching from Python: monitors (the monitors file's documents), the alerts they raise,
incidents and their notes, and notification channels (error groups are ``Client``'s
own ``list_issues``, ``get_issue`` and ``set_issue_status``). Mixed into
``Client``: every call is synchronous and raises ``APIError`` or ``TransportError``;
lists are iterators that fetch page by page."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Mapping, Optional


class AlertingMixin:
    # -- monitors ---------------------------------------------------------------------

    def create_monitor(self, spec: Mapping[str, Any]) -> Dict[str, Any]:
        """Creates a monitor from its document (``id``, ``model``, ``signal``,
        ``condition``, ``window``, ``interval``, ``severity``, …, as in the monitors
        file); the answer is the stored monitor."""
        return self._call("POST", "/api/v1/monitors", dict(spec), ok=(201,))

    def set_monitor(self, monitor_id: str, spec: Mapping[str, Any]) -> Dict[str, Any]:
        """Replaces monitor ``monitor_id`` with ``spec`` (its ``id`` must match)."""
        return self._call("PUT", f"/api/v1/monitors/{self._q(monitor_id)}", dict(spec))

    def get_monitor(self, monitor_id: str) -> Dict[str, Any]:
        return self._call("GET", f"/api/v1/monitors/{self._q(monitor_id)}")

    def list_monitors(self) -> Iterator[Dict[str, Any]]:
        """Every monitor the token may read."""
        return self._pages("/api/v1/monitors", {"limit": 100})

    def delete_monitor(self, monitor_id: str) -> None:
        self._call("DELETE", f"/api/v1/monitors/{self._q(monitor_id)}", ok=(204,))

    # -- alerts -----------------------------------------------------------------------

    def list_alerts(self, *, monitor: Optional[str] = None, state: Optional[str] = None) -> Iterator[Dict[str, Any]]:
        """Alerts, firing first, optionally of one monitor or in one state
        (``pending``, ``firing``, ``resolved``)."""
        return self._pages("/api/v1/alerts", {"monitor": monitor, "state": state, "limit": 100})

    def acknowledge_alert(self, fingerprint: str) -> Dict[str, Any]:
        """Acknowledges an alert (named by its ``fingerprint``): it stays firing but
        notifications about it stop."""
        return self._call("POST", f"/api/v1/alerts/{self._q(fingerprint)}/acknowledge", {})

    # -- incidents --------------------------------------------------------------------

    def create_incident(
        self,
        title: str,
        severity: str,
        *,
        project: Optional[str] = None,
        assignee: Optional[str] = None,
        runbook_url: Optional[str] = None,
        links: Optional[Mapping[str, List[str]]] = None,
    ) -> Dict[str, Any]:
        """Opens an incident by hand (monitors open theirs by themselves)."""
        doc: Dict[str, Any] = {"title": title, "severity": severity}
        for key, value in (("project", project), ("assignee", assignee), ("runbook_url", runbook_url)):
            if value is not None:
                doc[key] = value
        if links:
            doc["links"] = {k: list(v) for k, v in links.items()}
        return self._call("POST", "/api/v1/incidents", doc, ok=(201,))

    def list_incidents(self, *, status: Optional[str] = None) -> Iterator[Dict[str, Any]]:
        """Incidents, newest first, optionally in one status."""
        return self._pages("/api/v1/incidents", {"status": status, "limit": 100})

    def get_incident(self, incident_id: Any) -> Dict[str, Any]:
        """One incident with its links, postmortem and timeline."""
        return self._call("GET", f"/api/v1/incidents/{self._q(incident_id)}")

    def update_incident(self, incident_id: Any, **changes: Any) -> Dict[str, Any]:
        """Changes an incident: ``status``, ``assignee`` (None unassigns),
        ``postmortem``, ``links``; fields not given are left as they are."""
        unknown = set(changes) - {"status", "assignee", "postmortem", "links"}
        if unknown:
            raise TypeError(f"update_incident() got unexpected fields: {', '.join(sorted(unknown))}")
        return self._call("PATCH", f"/api/v1/incidents/{self._q(incident_id)}", changes)

    def add_incident_note(self, incident_id: Any, text: str) -> None:
        """Adds a note to an incident's timeline."""
        self._call("POST", f"/api/v1/incidents/{self._q(incident_id)}/notes", {"text": text}, ok=(201,))

    # -- notification channels --------------------------------------------------------

    def list_channels(self) -> Iterator[Dict[str, Any]]:
        """Notification channels of the projects the token administers (secrets masked)."""
        return self._pages("/api/v1/channels", {"limit": 100})

    def delete_channel(self, channel_id: Any) -> None:
        self._call("DELETE", f"/api/v1/channels/{self._q(channel_id)}", ok=(204,))
