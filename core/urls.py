"""core serves three prefixes: /accounts/ (log in and out, change one's password), /audit/ (the trail) and
/healthz/ (for load balancers)."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import path

from core import views
from core.access import any_account, public

audit_patterns = [path("", views.audit_trail, name="audit-trail")]
health_patterns = [path("", views.healthz, name="healthz")]

# Names without a namespace: Django's auth views and templates reverse "login", "password_change_done", ...
account_patterns = [
    path("login/", public(auth_views.LoginView.as_view(redirect_authenticated_user=False)), name="login"),
    path("logout/", public(auth_views.LogoutView.as_view()), name="logout"),
    # Any logged-in account may change its own password, with or without a role.
    path("password_change/", any_account(auth_views.PasswordChangeView.as_view()), name="password_change"),
    path(
        "password_change/done/", any_account(auth_views.PasswordChangeDoneView.as_view()), name="password_change_done"
    ),
]
if settings.DOCKERBENCH_PASSWORD_RESET:
    # Only when mail can be sent (DJANGO_EMAIL_HOST): a reset page that mails nothing would only mislead.
    account_patterns += [
        path("password_reset/", public(auth_views.PasswordResetView.as_view()), name="password_reset"),
        path("password_reset/done/", public(auth_views.PasswordResetDoneView.as_view()), name="password_reset_done"),
        path(
            "reset/<uidb64>/<token>/",
            public(auth_views.PasswordResetConfirmView.as_view()),
            name="password_reset_confirm",
        ),
        path("reset/done/", public(auth_views.PasswordResetCompleteView.as_view()), name="password_reset_complete"),
    ]
