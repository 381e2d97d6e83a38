//! The tables events draw their words from: companies, people, lines of chat, flow steps, task
//! titles and errors, apps and their external event types, collections. Accents, emoji and
//! other scripts are on purpose: real traffic has them.

pub(super) const COMPANIES: &[(&str, &str)] = &[
    ("Acme", "acme.io"),
    ("Globex", "globex.com"),
    ("Initech", "initech.com"),
    ("Müller & Söhne", "mueller-soehne.de"),
    ("Hooli", "hooli.xyz"),
    ("Café Olé", "cafeole.fr"),
    ("Tokyo Robotics", "tokyorobotics.jp"),
    ("Fjord Analytics", "fjord.no"),
    ("Lagos Logistics", "lagoslogistics.ng"),
    ("Andes Outdoor", "andes.cl"),
    ("Northwind", "northwind.example"),
    ("Blue Bottle Labs", "bluebottle.dev"),
];

pub(super) const FIRST_NAMES: &[(&str, &str)] = &[
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Aiko", "aiko"),
    ("Łukasz", "lukasz"),
    ("Amara", "amara"),
    ("Liam", "liam"),
    ("Priya", "priya"),
    ("Mateo", "mateo"),
    ("Chloé", "chloe"),
    ("Noah", "noah"),
    ("Fatima", "fatima"),
    ("Sven", "sven"),
    ("Mei", "mei"),
    ("Olu", "olu"),
    ("Ingrid", "ingrid"),
    ("Diego", "diego"),
];

pub(super) const LAST_NAMES: &[(&str, &str)] = &[
    ("García", "garcia"),
    ("Müller", "mueller"),
    ("Tanaka", "tanaka"),
    ("Nowak", "nowak"),
    ("Okafor", "okafor"),
    ("Smith", "smith"),
    ("Patel", "patel"),
    ("Rossi", "rossi"),
    ("Dubois", "dubois"),
    ("Johansson", "johansson"),
    ("Chen", "chen"),
    ("Adeyemi", "adeyemi"),
    ("Novák", "novak"),
];

pub(super) const AGENT_NAMES: &[&str] = &[
    "Support Assistant",
    "Sales Copilot",
    "Onboarding Guide",
    "Triage Bot",
    "Billing Helper",
];

pub(super) const CONVERSATION_TITLES: &[&str] = &[
    "Refund for order #{n}",
    "Can't log in after password reset",
    "Pricing question – team plan",
    "Bug: CSV export is empty",
    "Welcome aboard 🎉",
    "Invoice {n} looks wrong",
    "Integration with Stripe",
    "Feature request: dark mode",
    "Données manquantes dans le rapport",
    "Delivery delayed 📦",
    "SSO setup for our team",
    "Question about the API rate limits",
];

pub(super) const USER_LINES: &[&str] = &[
    "Hi! I can't find the export button anymore since the last update.",
    "Thanks, that worked 🙏",
    "Could you check invoice 4821? The total looks off by €20.",
    "We're seeing timeouts on the webhook endpoint since this morning.",
    "Is there a way to add more seats without changing plans?",
    "Perfect, merci beaucoup !",
    "The password reset link says it has expired, but I only just got it.",
    "Can we schedule a call for Thursday at 3pm CET?",
    "Our team in Tokyo gets an error: 「アクセスが拒否されました」",
    "Still broken on my side 😕 I cleared the cache twice.",
    "How do I connect our HubSpot account?",
    "Ok 👍",
    "Can you resend the onboarding email to Zoë?",
    "We'd like to upgrade to the Business plan before the end of the month.",
    "The mobile app crashes when I open a conversation with an attachment.",
    "Is the API down? Status page says everything is fine.",
    "Great, I'll let the team know.",
    "Why was my card charged twice? 💳",
    "Danke für die schnelle Antwort!",
    "Where can I change the billing address?",
];

pub(super) const AGENT_LINES: &[&str] = &[
    "I've re-sent the link; it's valid for 24 hours.",
    "Thanks for your patience! I've escalated this to our billing team.",
    "You can find it under Settings → Data → Export.",
    "I've added 3 seats to your workspace; the change shows on your next invoice.",
    "Could you share a screenshot of the error message?",
    "The duplicate charge has been refunded ✅ It may take 5–10 days to appear.",
    "I've booked Thursday 15:00 CET – you'll get a calendar invite shortly.",
];

pub(super) const REPLIES: &[&str] = &[
    "Sure! To export your data, open Settings, choose Data, then click Export. You will get an email with a download link within a few minutes.",
    "I checked invoice 4821: the difference is the VAT adjustment for your new billing address. I can send a corrected copy if you like.",
    "Thanks for reporting this. Our logs show the webhook endpoint answered with 504 since 08:12 UTC; the team is on it and I'll update you here.",
    "You can add seats at any time from Billing → Seats. The new seats are prorated, so you only pay for the remaining days of this period.",
    "Désolé pour ce souci ! J'ai réinitialisé votre accès, vous pouvez maintenant vous reconnecter avec votre adresse e-mail.",
    "Good news 🎉 the fix for the attachment crash is rolling out today in version 4.12. Please update the app and let me know if it persists.",
    "The duplicate charge comes from a retried payment. I have refunded the second one; your bank should show it within five business days.",
    "To connect HubSpot, open Apps, pick HubSpot, and sign in with an admin account. Contacts and deals sync every fifteen minutes after that.",
];

pub(super) const FLOW_NAMES: &[&str] = &[
    "Route new leads",
    "Escalate VIP tickets",
    "Nightly invoice sync",
    "Welcome sequence",
    "Churn risk alert",
    "Sync Stripe customers",
    "Triage inbound email",
    "Weekly report digest",
];

pub(super) const TRIGGERS: &[&str] = &["schedule", "webhook", "event", "manual"];

pub(super) const STEPS: &[&str] = &[
    "fetch_contact",
    "classify_intent",
    "enrich_company",
    "send_email",
    "create_task",
    "post_to_slack",
    "update_record",
    "call_webhook",
    "wait_1h",
    "branch_on_score",
];

pub(super) const TASK_TITLES: &[&str] = &[
    "Call back {name} about the renewal",
    "Review Q3 invoice batch",
    "Prepare onboarding deck for {company}",
    "Follow up: unpaid invoice #{n}",
    "Check churn risk for {company}",
    "Send contract draft to {name} ✍️",
    "Reconcile Stripe payouts",
    "Answer {name}'s question about SSO",
    "Update pricing page copy",
    "Ship order #{n} to Zürich",
];

pub(super) const TASK_ERRORS: &[(&str, &str)] = &[
    ("TIMEOUT", "step send_email timed out after 30s"),
    ("UPSTREAM_5XX", "crm returned 502 Bad Gateway"),
    ("VALIDATION", "field dueAt is in the past"),
    (
        "RATE_LIMITED",
        "too many requests to the Stripe API; retry in 20s",
    ),
    (
        "PERMISSION_DENIED",
        "owner has no access to collection deals",
    ),
];

/// An integration: its key in payloads, its display name, the event channel its events arrive
/// through, and the external event types it sends.
pub(super) struct AppKind {
    pub(super) key: &'static str,
    pub(super) name: &'static str,
    pub(super) channel: &'static str,
    pub(super) types: &'static [&'static str],
}

pub(super) const APPS: &[AppKind] = &[
    AppKind {
        key: "stripe",
        name: "Stripe",
        channel: "webhook",
        types: &[
            "stripe.invoice.paid",
            "stripe.invoice.payment_failed",
            "stripe.charge.succeeded",
            "stripe.customer.subscription.updated",
        ],
    },
    AppKind {
        key: "github",
        name: "GitHub",
        channel: "webhook",
        types: &[
            "github.push",
            "github.pull_request.opened",
            "github.issues.closed",
        ],
    },
    AppKind {
        key: "shopify",
        name: "Shopify",
        channel: "webhook",
        types: &["shopify.orders.create", "shopify.orders.fulfilled"],
    },
    AppKind {
        key: "slack",
        name: "Slack",
        channel: "sse",
        types: &["slack.message.channels", "slack.reaction_added"],
    },
    AppKind {
        key: "hubspot",
        name: "HubSpot",
        channel: "polling",
        types: &["hubspot.deal.propertyChange"],
    },
    AppKind {
        key: "zendesk",
        name: "Zendesk",
        channel: "polling",
        types: &["zendesk.ticket.created", "zendesk.ticket.solved"],
    },
    AppKind {
        key: "twilio",
        name: "Twilio",
        channel: "webhook",
        types: &["twilio.message.received"],
    },
    AppKind {
        key: "calendly",
        name: "Calendly",
        channel: "cloudevents",
        types: &["calendly.invitee.created", "calendly.invitee.canceled"],
    },
    AppKind {
        key: "jira",
        name: "Jira",
        channel: "cloudevents",
        types: &["jira.issue.created", "jira.issue.updated"],
    },
    AppKind {
        key: "intercom",
        name: "Intercom",
        channel: "sse",
        types: &["intercom.conversation.user.replied"],
    },
];

pub(super) const COLLECTIONS: &[&str] = &["contacts", "deals", "tickets", "orders", "products"];

pub(super) const TICKET_SUBJECTS: &[&str] = &[
    "Checkout fails with card declined",
    "Cannot upload files larger than 10 MB",
    "Wrong VAT on invoice",
    "Login loop on Safari",
    "Export to CSV is empty",
    "Commande non reçue",
];

pub(super) const PRODUCTS: &[&str] = &[
    "Ergonomic chair",
    "Standing desk 160×80",
    "Noise-cancelling headset",
    "USB-C dock",
    "Café crème beans 1 kg",
];
