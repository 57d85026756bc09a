"""The Masker: every way a secret can reach output is masked, and nothing else changes."""

from __future__ import annotations

from probes.secrets import MASK, Masker


def test_a_secret_that_contains_another_is_masked_whole() -> None:
    masker = Masker(["abc", "xxabcxx"])
    masker.add("abcd")
    assert masker.text("pw=xxabcxx other=abcd and abc") == f"pw={MASK} other={MASK} and {MASK}"


def test_url_and_connection_string_passwords_are_masked_without_being_registered() -> None:
    masker = Masker()
    assert masker.text("postgresql://reader:hunter22@db/wh") == f"postgresql://reader:{MASK}@db/wh"
    assert masker.text("DRIVER={x};UID=sa;PWD={p;w};") == f"DRIVER={{x}};UID=sa;PWD={MASK};"
    assert masker.text("Password = s3cret") == f"Password = {MASK}"


def test_text_without_secrets_is_returned_unchanged() -> None:
    masker = Masker(["hunter22"])
    for text in ("", "no secret here", "user@example.com", "a=b"):
        assert masker.text(text) == text


def test_short_values_are_not_secrets() -> None:
    masker = Masker(["ab", ""])
    assert masker.secrets == frozenset()
    assert masker.text("ab cd") == "ab cd"


def test_the_pieces_of_a_password_with_an_at_sign_are_masked_too() -> None:
    # What a URL parser makes of user:hunter@2secret@db: password "hunter", host "2secret@db".
    masker = Masker(["hunter@2secret"])
    assert masker.text("cannot resolve 2secret@db") == f"cannot resolve {MASK}@db"
    assert masker.text("user:hunter@2secret@db") == f"user:{MASK}@db"
    assert masker.text("a@b") == "a@b"  # pieces shorter than 3 characters are left alone


def test_urls_and_e_mail_addresses_are_not_cut_into_pieces() -> None:
    masker = Masker(["oncall@example.com", "mailtos://u:pw42@smtp.example.com?to=a@example.com"])
    assert masker.text("https://example.com/health") == "https://example.com/health"
