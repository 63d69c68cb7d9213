"""Inventory service: stock per SKU per warehouse and reservations, under a choice of locking strategy."""
