"""Roles are Django groups (SPEC S1). Their permissions are granted as features land."""

ROLES = ("viewer", "operator", "risk_manager", "compliance_officer", "admin")
