"""One way to decide: the daemon, `askfirst explain`, `askfirst preview --invite` and what
`askfirst status` shows all come from `judge()`.

`judge` classifies the mail, decides with the owner's rules (allow and deny lists included)
and picks the template the inviter would get (template sets and language included). The
only fact it needs from the state file is whether the inviter was asked recently; the
caller passes that in as a function (the daemon and `explain --config` ask the store).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from askfirst.classify import Verdict, classify
from askfirst.config import Classify, Settings
from askfirst.lifecycle import Invitation
from askfirst.message import Mail
from askfirst.notifications import invitation_slug
from askfirst.record import DecisionRecord
from askfirst.render import Templates
from askfirst.rules import Action, Context, Decision, decide, template_set


def _never(address: str) -> bool:
    return False


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    decision: Decision
    inviter_email: str  # where an ask would go (the reply address, else From)
    template_set: str | None  # chosen by rules.template_sets, if one applies
    template: str  # the ask template this inviter would get ("ask.formal.de", ...)

    @property
    def action(self) -> Action:
        return self.decision.action

    @property
    def rule(self) -> str:
        return self.decision.rule

    @property
    def reasons(self) -> tuple[str, ...]:
        return (*self.verdict.reasons, *self.decision.reasons)

    def invitation(self, mail: Mail) -> Invitation:
        """The invitation this mail is, as the daemon records it (and `preview` shows it)."""
        verdict, decision = self.verdict, self.decision
        return Invitation(
            source_message_id=mail.message_id,
            network=verdict.network or "email",
            inviter_name=verdict.inviter_name,
            inviter_email=self.inviter_email,
            subject=mail.subject,
            references=(*mail.references, mail.message_id)[-20:],
            invitation_key=verdict.invitation_key,
            decision=DecisionRecord(
                action=decision.action,
                rule=decision.rule,
                reasons=self.reasons,
                template=self.template,
                note=verdict.personal_note[:2000],
                language=verdict.language,
                authenticated=verdict.authenticated,
                phishing_suspect=verdict.phishing_suspect,
                profile_url=verdict.profile_url,
                profile_slug=invitation_slug(mail, verdict.network or ""),
            ),
        )


def choose_template(
    templates: Templates,
    sets: dict[str, str],
    kind: str,
    email: str,
    network: str,
    language: str | None,
) -> str:
    """The file a mail of `kind` to this inviter uses: a rule's set, then the language."""
    if "." in kind:  # an explicit variant ("ask.de") is taken as it is
        return kind
    return templates.choose(kind, template_set(sets, email, network), language)


def judge(
    mail: Mail,
    settings: Settings | None,
    templates: Templates,
    *,
    recently_asked: Callable[[str], bool] = _never,
) -> Judgement:
    """What askfirst does with `mail` under `settings` (None: the defaults, no owner)."""
    owner = settings.owner.addresses() if settings else frozenset()
    policy = settings.classify if settings else Classify()
    verdict = classify(mail, policy, owner)
    reply = verdict.reply_address
    ctx = Context(
        owner_addresses=owner,
        allow=tuple(settings.rules.allow) if settings else (),
        deny=tuple(settings.rules.deny) if settings else (),
        recently_asked=bool(reply) and recently_asked(reply or ""),
    )
    decision = decide(mail, verdict, ctx)
    email, network = reply or mail.from_addr, verdict.network or "email"
    sets = settings.rules.template_sets if settings else {}
    return Judgement(
        verdict=verdict,
        decision=decision,
        inviter_email=email,
        template_set=template_set(sets, email, network),
        template=choose_template(templates, sets, "ask", email, network, verdict.language),
    )
