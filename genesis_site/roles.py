"""Roles are Django groups (SPEC S1); `legal` signs go-live decisions (SPEC C2). Their
permissions are granted by migrations as features land."""

ROLES = ("viewer", "operator", "risk_manager", "compliance_officer", "legal", "admin")
