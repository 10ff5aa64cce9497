mod access;
mod cli;
mod config;
mod health;
mod helpers;
mod login;
mod logs;
mod pages;
