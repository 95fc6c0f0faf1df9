# One Tether environment in one Google Cloud project. State lives in a GCS bucket you create
# once (see README.md): `terraform init -backend-config="bucket=<state bucket>"`.
terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }

  backend "gcs" {
    prefix = "tether"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_project" "this" {
  project_id = var.project_id
}
