"""A small corpus of simple stories, written by this project's own generator (templates and word lists
below): public domain by construction (CC0). Seeded, so the same text every time."""
import random

NAMES = ["Tom", "Lily", "Max", "Mia", "Ben", "Zoe", "Sam", "Anna", "Leo", "Ella", "Jack", "Rosa", "Finn", "Ivy", "Noah", "Lucy"]
ANIMALS = ["fox", "rabbit", "bear", "owl", "cat", "dog", "duck", "mouse", "frog", "deer", "bird", "turtle", "horse", "goat"]
ADJECTIVES = ["little", "brave", "happy", "sleepy", "curious", "kind", "quiet", "clever", "shy", "friendly", "tiny", "old"]
PLACES = ["the forest", "the park", "the garden", "the river", "the hill", "the farm", "the beach", "the village", "the meadow", "the lake"]
THINGS = ["a red ball", "a shiny stone", "a blue kite", "a small boat", "a big apple", "a yellow flower", "an old book", "a warm hat",
          "a wooden box", "a green leaf", "a silver key", "a soft blanket"]
FEELINGS = ["happy", "sad", "scared", "excited", "tired", "proud", "surprised", "worried", "glad", "calm"]
WEATHER = ["The sun was shining.", "It was a rainy day.", "The wind was cold.", "The sky was blue and clear.",
           "Snow covered the ground.", "It was a warm summer morning.", "The stars were bright that night."]
ACTIONS = ["ran", "walked", "jumped", "hopped", "climbed", "swam", "danced", "looked around", "sat down", "sang a song"]
MORALS = ["Sharing makes everyone happy.", "It is good to help your friends.", "Being brave is not the same as never being scared.",
          "Kind words are like sunshine.", "Every day is a chance to learn something new.", "Friends make hard things easy.",
          "It is okay to ask for help.", "Patience brings good things."]


def story(rng):
    name, friend = rng.sample(NAMES, 2)
    animal, other = rng.sample(ANIMALS, 2)
    adjective = rng.choice(ADJECTIVES)
    place, place2 = rng.sample(PLACES, 2)
    thing = rng.choice(THINGS)
    feeling, feeling2 = rng.sample(FEELINGS, 2)
    lines = [
        rng.choice([f"Once upon a time, there was a {adjective} {animal} named {name}.",
                    f"{name} was a {adjective} {animal} who lived near {place}.",
                    f"In {place}, there lived a {adjective} {animal} called {name}."]),
        rng.choice(WEATHER),
        f"One day, {name} {rng.choice(ACTIONS)} to {place2} and found {thing}.",
        f"{name} felt {feeling}. \"What is this?\" {name} asked.",
        rng.choice([f"A {other} named {friend} came by and said, \"Hello, {name}! Can I play too?\"",
                    f"Then {friend} the {other} saw {name} and smiled.",
                    f"Soon {friend}, a {rng.choice(ADJECTIVES)} {other}, walked over to look."]),
        rng.choice([f"\"Yes, let us play together!\" said {name}.",
                    f"\"This is {thing}. We can share it,\" said {name}.",
                    f"{name} was {feeling2} at first, but then {name} said, \"Okay!\""]),
        f"They {rng.choice(ACTIONS)} and {rng.choice(ACTIONS)} until the sun went down.",
        rng.choice([f"At the end of the day, {name} and {friend} were best friends.",
                    f"{name} went home and told Mom all about {friend}.",
                    f"When it was time to go, {friend} gave {name} a big hug."]),
        rng.choice(MORALS),
    ]
    return " ".join(lines)


def corpus(stories, seed):
    rng = random.Random(seed)
    return "\n\n".join(story(rng) for _ in range(stories)) + "\n"
