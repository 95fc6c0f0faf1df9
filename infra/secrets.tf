# App-level secrets, created empty: their values are set out of band (README.md), never in
# Terraform state. Their ids start with "tetherapp-", so the "tether-" prefix that the
# per-connection credential grants are conditioned on never covers them.
locals {
  app_secret_prefix        = "tetherapp-"
  credential_secret_prefix = "tether-"
  credential_secrets_name  = "projects/${data.google_project.this.number}/secrets/${local.credential_secret_prefix}"
}

resource "google_secret_manager_secret" "keyring" {
  secret_id = "${local.app_secret_prefix}keyring"
  labels    = { app = "tether", purpose = "keyring" }

  replication {
    auto {
      dynamic "customer_managed_encryption" {
        for_each = var.secret_kms_key == "" ? [] : [var.secret_kms_key]
        content {
          kms_key_name = customer_managed_encryption.value
        }
      }
    }
  }

  depends_on = [google_project_service.apis, google_kms_crypto_key_iam_member.secret_manager]
}

resource "google_secret_manager_secret" "oauth_client" {
  for_each  = var.oauth_clients
  secret_id = "${local.app_secret_prefix}oauth-${replace(each.key, "_", "-")}"
  labels    = { app = "tether", purpose = "oauth-client", provider = each.key }

  replication {
    auto {
      dynamic "customer_managed_encryption" {
        for_each = var.secret_kms_key == "" ? [] : [var.secret_kms_key]
        content {
          kms_key_name = customer_managed_encryption.value
        }
      }
    }
  }

  depends_on = [google_project_service.apis, google_kms_crypto_key_iam_member.secret_manager]
}

resource "google_secret_manager_secret" "webhook" {
  for_each  = var.webhook_providers
  secret_id = "${local.app_secret_prefix}webhook-${replace(each.key, "_", "-")}"
  labels    = { app = "tether", purpose = "webhook", provider = each.key }

  replication {
    auto {
      dynamic "customer_managed_encryption" {
        for_each = var.secret_kms_key == "" ? [] : [var.secret_kms_key]
        content {
          kms_key_name = customer_managed_encryption.value
        }
      }
    }
  }

  depends_on = [google_project_service.apis, google_kms_crypto_key_iam_member.secret_manager]
}

# With CMEK, Secret Manager's service agent encrypts with the key (README: one-time step to
# create the agent).
resource "google_kms_crypto_key_iam_member" "secret_manager" {
  count         = var.secret_kms_key == "" ? 0 : 1
  crypto_key_id = var.secret_kms_key
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-secretmanager.iam.gserviceaccount.com"
}
