//! Conversation events: conversations opened, messages posted, and agent replies streamed token
//! by token and then posted whole.

use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::json;

use super::state::{Conversation, Gen, Org, Reply, Slot, Stream, MAX_STREAMS};
use super::words::{AGENT_LINES, CONVERSATION_TITLES, REPLIES, USER_LINES};
use super::Kind;
use crate::event::Envelope;

pub(super) fn created(gen: &mut Gen, org: &mut Org) -> Envelope {
    let id = gen.mint("conv", Slot::Conversation);
    let users = gen.rng.random_range(1..=3).min(org.users);
    let mut participants: Vec<usize> = rand::seq::index::sample(&mut gen.rng, org.users, users)
        .into_iter()
        .collect();
    if gen.chance(0.85) {
        participants.push(org.agent(gen));
    }
    let channel = gen.pick(&["web", "web", "email", "whatsapp", "sms", "slack"]);
    let title = gen
        .pick(CONVERSATION_TITLES)
        .replace("{n}", &gen.rng.random_range(1000..99999).to_string());
    let payload = json!({
        "conversationId": id,
        "title": title,
        "channel": channel,
        "participants": participants.iter().map(|p| &org.people[*p].id).collect::<Vec<_>>(),
        "createdBy": org.people[participants[0]].actor(),
    });
    let env = org.envelope(
        gen,
        Kind::ConversationCreated,
        &id,
        payload,
        vec![("channel".into(), channel.into())],
    );
    let retired = org.conversations.push(Conversation {
        id,
        participants,
        streaming: false,
    });
    if let Some(old) = retired {
        // A retired conversation gets no more events, so its reply stops mid-stream.
        org.streams.retain(|s| s.conversation != old.id);
    }
    env
}

pub(super) fn message_posted(gen: &mut Gen, org: &mut Org) -> Envelope {
    // A finished stream is posted as a whole message before anything else is said.
    if let Some(reply) = org.replies.pop_front() {
        let conversation = org
            .conversations
            .iter()
            .find(|c| c.id == reply.conversation);
        let participants = conversation
            .map(|c| c.participants.clone())
            .unwrap_or_default();
        return posted(
            gen,
            org,
            &reply.conversation,
            &participants,
            reply.agent,
            reply.message,
            reply.text.to_string(),
        );
    }
    if org.conversations.is_empty() {
        return created(gen, org);
    }
    let c = gen.recent(org.conversations.len());
    let participants = org.conversations[c].participants.clone();
    let conversation = org.conversations[c].id.clone();
    let sender = *participants.choose(&mut gen.rng).expect("participants");
    let lines = if org.people[sender].agent {
        AGENT_LINES
    } else {
        USER_LINES
    };
    let mut text = gen.pick(lines).to_string();
    if gen.chance(0.3) {
        text.push(' ');
        text.push_str(gen.pick(lines));
    }
    let message = gen.mint("msg", Slot::Message);
    posted(
        gen,
        org,
        &conversation,
        &participants,
        sender,
        message,
        text,
    )
}

fn posted(
    gen: &mut Gen,
    org: &Org,
    conversation: &str,
    participants: &[usize],
    sender: usize,
    message: String,
    text: String,
) -> Envelope {
    let payload = json!({
        "conversationId": conversation,
        "messageId": message,
        "sender": org.people[sender].sender(),
        "text": text,
        "participants": participants.iter().map(|p| &org.people[*p].id).collect::<Vec<_>>(),
    });
    org.envelope(
        gen,
        Kind::MessagePosted,
        conversation,
        payload,
        vec![("participant".into(), org.people[sender].id.clone())],
    )
}

pub(super) fn message_stream(gen: &mut Gen, org: &mut Org) -> Envelope {
    let continue_one =
        !org.streams.is_empty() && (org.streams.len() >= MAX_STREAMS || gen.chance(0.8));
    if !continue_one {
        if org.conversations.is_empty() {
            return created(gen, org);
        }
        // Only a conversation with an agent in it, and not already streaming, gets a new reply.
        let found = (0..4)
            .map(|_| gen.recent(org.conversations.len()))
            .find(|c| {
                let c = &org.conversations[*c];
                !c.streaming && c.participants.iter().any(|p| org.people[*p].agent)
            });
        match found {
            Some(c) => {
                let conversation = &mut org.conversations[c];
                conversation.streaming = true;
                let agent = *conversation
                    .participants
                    .iter()
                    .find(|p| org.people[**p].agent)
                    .expect("an agent");
                let conversation = conversation.id.clone();
                org.streams.push(Stream {
                    conversation,
                    message: gen.mint("msg", Slot::Message),
                    agent,
                    text: gen.pick(REPLIES),
                    pos: 0,
                    index: 0,
                });
            }
            None if org.streams.is_empty() => return message_posted(gen, org),
            None => {}
        }
    }
    let s = if continue_one {
        gen.rng.random_range(0..org.streams.len())
    } else {
        org.streams.len() - 1
    };
    let stream = &mut org.streams[s];
    let rest = &stream.text[stream.pos..];
    // A token is a word with its leading space, as language models stream them.
    let len = rest
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == ' ')
        .map_or(rest.len(), |(i, _)| i);
    let token = &rest[..len];
    stream.pos += len;
    let done = stream.pos >= stream.text.len();
    let payload = json!({
        "conversationId": stream.conversation,
        "messageId": stream.message,
        "sender": org.people[stream.agent].sender(),
        "index": stream.index,
        "token": token,
        "done": done,
    });
    stream.index += 1;
    let env = org.envelope(
        gen,
        Kind::MessageStream,
        &org.streams[s].conversation,
        payload,
        vec![],
    );
    if done {
        let stream = org.streams.swap_remove(s);
        if let Some(c) = org
            .conversations
            .iter_mut()
            .find(|c| c.id == stream.conversation)
        {
            c.streaming = false;
        }
        org.replies.push(Reply {
            conversation: stream.conversation,
            message: stream.message,
            agent: stream.agent,
            text: stream.text,
        });
    }
    env
}
