from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"

    def ready(self):
        from django.contrib.auth import signals

        from compliance import auth_audit

        signals.user_logged_in.connect(auth_audit.on_logged_in, dispatch_uid="compliance.login")
        signals.user_login_failed.connect(auth_audit.on_login_failed, dispatch_uid="compliance.login_failed")
        signals.user_logged_out.connect(auth_audit.on_logged_out, dispatch_uid="compliance.logout")
