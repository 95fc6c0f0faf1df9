# The source bundle the functions are built from. Its object name carries the bundle's hash,
# so a new bundle redeploys every function and an unchanged one redeploys none.
resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Access logs of a bucket holding only the open-source bundle add cost, no audit value; Cloud Audit Logs record who changes it.
  name                        = "${var.project_id}-tether-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      num_newer_versions = 5
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_object" "bundle" {
  name   = "tether-functions-${filesha256(var.bundle_path)}.zip"
  bucket = google_storage_bucket.source.name
  source = var.bundle_path
}

# Cloud Build builds each function's image as this account, not as the default compute one.
resource "google_service_account" "build" {
  account_id   = "tether-build"
  display_name = "Tether function builds"
}

resource "google_project_iam_member" "build" {
  for_each = toset([
    "roles/artifactregistry.writer",
    "roles/logging.logWriter",
    "roles/storage.objectViewer",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.build.email}"
}
