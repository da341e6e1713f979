import factory

from crm.models import Customer


class CustomerFactory(factory.django.DjangoModelFactory[Customer]):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    billing_email = factory.Sequence(lambda n: f"billing{n}@customer.example")
