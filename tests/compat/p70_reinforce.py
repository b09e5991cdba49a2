"""A REINFORCE policy-gradient loop in the style of the reinforcement-learning tutorials, on a tiny
deterministic chain environment: a policy net with F.softmax, log-probabilities picked with
log_softmax(...).gather / indexing, discounted returns built backwards and normalised with
(returns - mean) / (std + eps), torch.stack of the log-probs, and policy_loss = -(log_probs * returns).sum().
Actions come from a numpy stream, so both frameworks take the same trajectory; torch.multinomial sampling is
checked by its properties."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from _report import report

class Chain:
    "States 0..4; action 1 moves right, 0 moves left; reward 1 on reaching 4, small cost per step."
    def reset(self):
        self.s = 0
        return self.obs()
    def obs(self):
        o = np.zeros(5, dtype=np.float32); o[self.s] = 1
        return o
    def step(self, a):
        self.s = min(4, self.s + 1) if a == 1 else max(0, self.s - 1)
        done = self.s == 4
        return self.obs(), (1.0 if done else -0.05), done

class Policy(nn.Module):
    def __init__(self):
        super(Policy, self).__init__()
        self.affine1 = nn.Linear(5, 16)
        self.dropout = nn.Dropout(p=0.0)
        self.affine2 = nn.Linear(16, 2)
        self.saved_log_probs = []
        self.rewards = []
    def forward(self, x):
        x = self.affine1(x)
        x = self.dropout(x)
        x = F.relu(x)
        action_scores = self.affine2(x)
        return F.softmax(action_scores, dim=1)

policy = Policy()
init = np.random.default_rng(81)
with torch.no_grad():
    for p in policy.parameters(): p.copy_(torch.from_numpy(init.normal(0, 0.3, size=tuple(p.shape)).astype(np.float32)))
optimizer = optim.Adam(policy.parameters(), lr=1e-2)
eps = np.finfo(np.float32).eps.item()
gamma = 0.9
u = np.random.default_rng(82)

def select_action(state):
    state = torch.from_numpy(state).float().unsqueeze(0)
    probs = policy(state)
    action = int(u.uniform() < probs[0, 1].item())          # the same draw on both frameworks
    policy.saved_log_probs.append(torch.log(probs[0, action]))
    return action

def finish_episode():
    R = 0
    policy_loss = []
    returns = []
    for r in policy.rewards[::-1]:
        R = r + gamma * R
        returns.insert(0, R)
    returns = torch.tensor(returns)
    if len(returns) > 1:
        returns = (returns - returns.mean()) / (returns.std() + eps)
    for log_prob, R in zip(policy.saved_log_probs, returns):
        policy_loss.append(-log_prob * R)
    optimizer.zero_grad()
    policy_loss = torch.stack(policy_loss).sum()
    policy_loss.backward()
    optimizer.step()
    del policy.rewards[:]
    del policy.saved_log_probs[:]
    return policy_loss.item()

env = Chain()
lengths, losses, running_reward = [], [], 0.0
for i_episode in range(15):
    state, ep_reward = env.reset(), 0
    for t in range(1, 30):
        action = select_action(state)
        state, reward, done = env.step(action)
        policy.rewards.append(reward)
        ep_reward += reward
        if done: break
    running_reward = 0.05 * ep_reward + (1 - 0.05) * running_reward
    lengths.append(t)
    losses.append(finish_episode())
report('episode_lengths', lengths)
report('policy_losses', losses)
report('running_reward', running_reward)

# the batched form: log_softmax + gather, and sampling by torch.multinomial
states = torch.eye(5)
logits = policy.affine2(F.relu(policy.affine1(states)))
logp = F.log_softmax(logits, dim=-1)
acts = torch.tensor([1, 0, 1, 1, 0])
report('gathered_logp', logp.gather(1, acts.unsqueeze(1)).squeeze(1))
report('indexed_logp', logp[torch.arange(5), acts])
entropy = -(logp.exp() * logp).sum(-1)
report('entropy', entropy)
sampled = torch.multinomial(logp.exp(), num_samples=3, replacement=True)
report('multinomial_shape_range', [list(sampled.shape), sampled.dtype == torch.int64, bool(((sampled == 0) | (sampled == 1)).all())])
