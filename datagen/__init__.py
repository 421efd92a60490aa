"""The Faker Employee generator: the data the lab produces to the primary."""

from datagen.employees import Employee, EmployeeGenerator

__all__ = ["Employee", "EmployeeGenerator"]
