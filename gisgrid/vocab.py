"""Controlled vocabularies shared by the store, the loader, the API and the synthetic city."""

from __future__ import annotations

AREA_LEVELS = ("city", "district", "street", "community", "grid")

INCIDENT_STATUSES = (
    "reported",
    "accepted",
    "dispatched",
    "in_progress",
    "feedback",
    "closed",
    "rejected",
    "returned",
    "escalated",
)

ESCALATION_LEVELS = ("grid", "street", "district", "city")

PRIORITIES = ("low", "normal", "high", "urgent")

ROLES = (
    "grid_worker",
    "community",
    "street_centre",
    "district_centre",
    "city_centre",
    "unit",
    "analyst",
    "planner",
    "admin",
)

# The "nine small places" (九小场所) and the public objects a grid worker registers.
PLACE_KINDS = (
    "small_shop",
    "small_eatery",
    "small_hotel",
    "small_entertainment",
    "internet_cafe",
    "small_clinic",
    "small_school",
    "small_workshop",
    "small_warehouse",
    "hydrant",
    "camera",
    "hazard",
    "other",
)

RESIDENT_TAGS = (
    "elderly_alone",
    "disabled",
    "special_care",
    "low_income",
    "veteran",
    "left_behind_child",
    "rental_tenant",
    "community_correction",
)

# tags of a household as a whole (a resident's own are RESIDENT_TAGS)
HOUSEHOLD_TAGS = (
    "rental",
    "vacant",
    "elderly_only",
    "low_income",
    "special_care",
    "military_family",
)

SEXES = ("F", "M")

UNIT_KINDS = (
    "police",
    "fire",
    "sanitation",
    "housing",
    "utilities",
    "market",
    "urban_management",
    "health",
    "civil_affairs",
    "traffic",
    "environment",
    "other",
)

VISIT_SUBJECTS = ("resident", "household", "building", "place", "none")

MOODS = ("calm", "worried", "upset", "urgent")

# incident_events.kind: a status change, or another report added to a case (no change)
EVENT_KINDS = ("transition", "support")

PLAN_STATUSES = ("draft", "validated", "published", "discarded")

INCIDENT_SOURCES = ("grid_worker", "hotline", "open311", "app", "camera", "import")
