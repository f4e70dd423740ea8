"""The seed's example configuration: the network and voice categories.

``supportkit init`` and ``supportkit demo`` install these; a host app is free to
ignore them and define its own.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "SEED_AGENTS",
    "SEED_CALENDARS",
    "SEED_CATEGORIES",
    "SEED_ROUTING_RULES",
    "SEED_TEAMS",
]

SEED_CALENDARS: Final[list[dict[str, Any]]] = [
    {
        "id": "us_pacific",
        "name": "US Pacific business hours",
        "timezone": "America/Los_Angeles",
        "hours": {
            "mon": [["09:00", "17:00"]],
            "tue": [["09:00", "17:00"]],
            "wed": [["09:00", "17:00"]],
            "thu": [["09:00", "17:00"]],
            "fri": [["09:00", "17:00"]],
        },
        "holiday_country": "US",
    },
]

SEED_CATEGORIES: Final[list[dict[str, Any]]] = [
    {
        "id": "network",
        "name": "Network & Connectivity",
        "description": "Internet, MPLS, SD-WAN, and network infrastructure issues",
        "sla": {"response_time": "2 hours", "resolution_time": "8 hours", "calendar": "24x7"},
        "default_team": "network_team",
        "subcategories": [
            {
                "id": "connectivity",
                "name": "Connectivity Issues",
                "routing_rules": {"auto_assign": "network_team", "escalation_threshold": "4 hours"},
            },
            {
                "id": "performance",
                "name": "Performance Issues",
                "routing_rules": {
                    "auto_assign": "network_performance_team",
                    "escalation_threshold": "6 hours",
                },
            },
        ],
    },
    {
        "id": "voice",
        "name": "Voice Services",
        "description": "VoIP, PBX, and voice communication issues",
        "sla": {"response_time": "1 hour", "resolution_time": "4 hours", "calendar": "24x7"},
        "default_team": "voice_team",
        "subcategories": [
            {"id": "call_quality", "name": "Call Quality Issues"},
            {"id": "features", "name": "Feature Configuration"},
        ],
    },
]

SEED_TEAMS: Final[list[dict[str, Any]]] = [
    {
        "id": "network_team",
        "name": "Network",
        "strategy": "least_loaded",
        "members": ["agent_tech_001", "agent_network_specialist"],
    },
    {
        "id": "network_performance_team",
        "name": "Network performance",
        "strategy": "round_robin",
        "members": ["agent_network_specialist"],
    },
    {
        "id": "network_escalation_team",
        "name": "Network escalation",
        "strategy": "skills",
        "members": ["agent_network_specialist", "agent_tech_001"],
    },
    {
        "id": "voice_team",
        "name": "Voice",
        "strategy": "round_robin",
        "members": ["agent_voice_001"],
    },
]

SEED_AGENTS: Final[list[dict[str, Any]]] = [
    {
        "id": "agent_tech_001",
        "name": "Sarah Johnson",
        "email": "sarah.johnson@example.com",
        "specialization": "network_infrastructure",
    },
    {
        "id": "agent_network_specialist",
        "name": "Michael Chen",
        "email": "michael.chen@example.com",
        "specialization": "network_engineering",
    },
    {
        "id": "agent_voice_001",
        "name": "Priya Patel",
        "email": "priya.patel@example.com",
        "specialization": "voice_services",
    },
]

SEED_ROUTING_RULES: Final[list[dict[str, Any]]] = [
    {
        "id": "rule_high_priority_network",
        "rule_name": "High Priority Network Issues",
        "conditions": {
            "category": "network",
            "priority": ["high", "critical"],
            "keywords": ["outage", "down", "offline"],
            "customer_tier": "enterprise",
        },
        "actions": {
            "assign_to": "network_escalation_team",
            "notify": ["network-oncall@example.com", "management@example.com"],
            "escalate_after": "1 hour",
            "auto_update_frequency": "30 minutes",
        },
        "active": True,
    },
]
