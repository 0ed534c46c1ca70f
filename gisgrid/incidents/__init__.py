"""The closed loop: lifecycle, workflow, SLA, photos, Open311."""
