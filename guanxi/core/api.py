from ninja import Router, Schema

router = Router(tags=["me"])


class MeOut(Schema):
    id: int
    username: str
    display_name: str
    role: str | None
    data_scope: str
    permissions: list[str]


@router.get("/me", response=MeOut, summary="The authenticated user")
def me(request):
    user = request.user
    perms = sorted(user.role.permissions) if user.role_id else []
    return {
        "id": user.pk,
        "username": user.username,
        "display_name": str(user),
        "role": user.role.code if user.role_id else None,
        "data_scope": user.data_scope,
        "permissions": perms,
    }
