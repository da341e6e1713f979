import factory
from allauth.account.models import EmailAddress

from mining_platform.core.choices import STAFF_ROLES, Role
from mining_platform.core.models import User

TEST_PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    role = Role.HOST
    is_staff = factory.LazyAttribute(lambda o: o.role in STAFF_ROLES)
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def verified_email(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save()
            if self.email:
                EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)
