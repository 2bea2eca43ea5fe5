"""The hosts app's tables. A database made before the apps were layered (its hosts_host still has
latest_scan_id) had these already, under the same name: scans.0002 brings it up to date."""

from django.db import migrations, models

import hosts.crypto
import hosts.endpoints


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Tag",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.SlugField(max_length=64, unique=True)),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="Host",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True)),
                (
                    "url",
                    models.CharField(
                        help_text="unix:///var/run/docker.sock, tcp://host:2376, tcp://[2001:db8::1]:2376 or ssh://user@host:22",
                        max_length=500,
                        validators=[hosts.endpoints.validate_docker_url],
                        verbose_name="Docker URL",
                    ),
                ),
                (
                    "enabled",
                    models.BooleanField(default=True, help_text="Disabled hosts are never scanned on a schedule."),
                ),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "facts_method",
                    models.CharField(
                        choices=[
                            ("auto", "Automatic (local socket: local; ssh://: SSH; tcp://: probe container)"),
                            ("local", "Local (the engine runs on the dashboard's machine)"),
                            ("probe", "Probe container through the Docker API"),
                            ("ssh", "SSH"),
                            ("none", "Do not gather host facts"),
                        ],
                        default="auto",
                        max_length=8,
                    ),
                ),
                (
                    "probe_image",
                    models.CharField(
                        blank=True,
                        help_text="Image for the probe container (needs a POSIX sh); blank: the default.",
                        max_length=300,
                    ),
                ),
                ("tls_verify", models.BooleanField(default=True, verbose_name="verify the daemon's certificate")),
                ("tls_ca_cert", hosts.crypto.EncryptedTextField(blank=True, verbose_name="TLS CA certificate (PEM)")),
                (
                    "tls_client_cert",
                    hosts.crypto.EncryptedTextField(blank=True, verbose_name="TLS client certificate (PEM)"),
                ),
                ("tls_client_key", hosts.crypto.EncryptedTextField(blank=True, verbose_name="TLS client key (PEM)")),
                (
                    "ssh_private_key",
                    hosts.crypto.EncryptedTextField(blank=True, verbose_name="SSH private key (PEM/OpenSSH)"),
                ),
                (
                    "ssh_known_hosts",
                    models.TextField(
                        blank=True,
                        help_text="Public host keys the SSH server must present.",
                        verbose_name="SSH known_hosts lines",
                    ),
                ),
                (
                    "ssh_accept_unknown_host",
                    models.BooleanField(default=False, verbose_name="accept an unknown SSH host key"),
                ),
                (
                    "ssh_facts_url",
                    models.CharField(
                        blank=True,
                        help_text="user@host[:port] to gather host facts over SSH for a tcp:// engine.",
                        max_length=300,
                        validators=[hosts.endpoints.validate_ssh_target],
                    ),
                ),
                ("tags", models.ManyToManyField(blank=True, related_name="hosts", to="hosts.tag")),
            ],
            options={
                "ordering": ["name"],
            },
        ),
    ]
