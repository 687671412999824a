"use strict";
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = document.getElementById("message");
  const button = document.getElementById("login");
  button.disabled = true;
  message.textContent = "";
  try {
    const res = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password: document.getElementById("password").value }),
    });
    if (res.ok) {
      window.location.replace("/");
      return;
    }
    const body = await res.json().catch(() => ({}));
    message.textContent = body.detail || `Login failed (${res.status}).`;
  } catch (err) {
    message.textContent = "The panel cannot be reached; check the network.";
  } finally {
    button.disabled = false;
  }
});
