# The database, its composite indexes and its field overrides (TTL policies, index exemptions).
# firestore.indexes.json is the one list: the code's tests check it covers every query the
# Firestore adapter makes, and the resources below are made from it, so they cannot drift.
locals {
  firestore_indexes = jsondecode(file("${path.module}/firestore.indexes.json"))
}

resource "google_firestore_database" "main" {
  name                              = "(default)"
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.apis]
}

resource "google_firestore_index" "composite" {
  for_each = {
    for index in local.firestore_indexes.indexes :
    "${index.collectionGroup}:${index.queryScope}:${join(",", [for f in index.fields : "${f.fieldPath}:${f.order}"])}" => index
  }

  database    = google_firestore_database.main.name
  collection  = each.value.collectionGroup
  query_scope = each.value.queryScope

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value.fieldPath
      order      = fields.value.order
    }
  }
}

resource "google_firestore_field" "override" {
  for_each = {
    for override in local.firestore_indexes.fieldOverrides :
    "${override.collectionGroup}.${override.fieldPath}" => override
  }

  database   = google_firestore_database.main.name
  collection = each.value.collectionGroup
  field      = each.value.fieldPath

  # An empty index_config exempts the field from single-field indexing.
  index_config {
    dynamic "indexes" {
      for_each = each.value.indexes
      content {
        order       = indexes.value.order
        query_scope = indexes.value.queryScope
      }
    }
  }

  dynamic "ttl_config" {
    for_each = lookup(each.value, "ttl", false) ? [true] : []
    content {}
  }
}
